"""Publish GAN-test's reference classifier (ganzoo.zoo.classifiers): its folder in the Hub mirror
(hub_mirror/ganzoo/classifier-NAME/: classifier.keras, classifier.json, README.md) and its entry in
weights_manifest.json's `classifiers`; with --token also uploaded, the manifest pinning the commit.

    python training/train_classifier.py --dataset cifar10 --out runs/classifiers/cifar10-resnet20.keras
    python training/publish_classifier.py --classifier runs/classifiers/cifar10-resnet20.keras --name cifar10-resnet20

Then `ganzoo.load_classifier("cifar10-resnet20")` loads it (every file checked against the
manifest's sha256), and `ganzoo eval MODEL --metrics gan_test` uses it for CIFAR10 models.
"""
import argparse
import json
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--classifier", required=True, help="the .keras file, its record (.keras.json) beside it")
    parser.add_argument("--name", required=True, help="DATASET-ARCHITECTURE, e.g. cifar10-resnet20")
    parser.add_argument("--dataset", default=None, help="zoo data set (default: the record's)")
    parser.add_argument("--out_dir", default=None, help="folder to write instead of the mirror's")
    parser.add_argument("--repo_id", default=None, help="Hub repo (default ganzoo/classifier-NAME)")
    parser.add_argument("--token", default=None, help="Hub token: upload the folder and pin its commit")
    parser.add_argument("--endpoint", default=None, help="Hub endpoint for the upload")
    args = parser.parse_args(argv)
    from ganzoo.zoo.classifiers import publish_classifier

    try:
        folder, entry = publish_classifier(args.classifier, args.name, dataset=args.dataset, out_dir=args.out_dir,
                                           repo_id=args.repo_id, token=args.token, endpoint=args.endpoint)
    except ValueError as error:
        print(f"publish_classifier: {error}", file=sys.stderr)
        return 1
    print(json.dumps({k: v for k, v in entry.items() if k != "hub"}, indent=2))
    print(f"publish_classifier: {folder} written; the manifest's classifiers[{args.name!r}] records its files"
          + (f" at revision {entry['hub']['revision']}" if entry["hub"]["revision"] else " (mirror only)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
