"""Train GAN-test's fixed classifier (a recipe of ganzoo.metrics.gan_train_test.CLASSIFIER_RECIPES)
on a data set's train split and measure it on its test split. On CIFAR10, on a 2-core CPU with
TensorFlow: airbench94's 16 epochs took 4,979 s and reached 91.04% on the test images (the
published cifar10-airbench94); ResNet-20's 100 epochs took 27,642 s (resumed across sessions)
and reached 87.75% (cifar10-resnet20):

    python training/train_classifier.py --dataset cifar10 --recipe airbench94 --out runs/classifiers/cifar10-airbench94.keras
    python training/train_classifier.py --dataset cifar10 --epochs 100 --out runs/classifiers/cifar10-resnet20.keras

Killed at any moment, the same command resumes from the last finished epoch (Keras'
BackupAndRestore state in OUT.backup/, removed at the end); a second process on the same OUT is
refused, and so is a state of other settings (epochs, data, depth, seed, recipe).
"""
import argparse
import json

from ganzoo.metrics.gan_train_test import CLASSIFIER_RECIPES, DEFAULT_RECIPE, train_reference_classifier


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="cifar10", help="cifar10, synthetic:N, a folder or tar of class folders")
    parser.add_argument("--recipe", default=DEFAULT_RECIPE, choices=tuple(CLASSIFIER_RECIPES),
                        help="the classifier recipe (ganzoo.metrics.gan_train_test.CLASSIFIER_RECIPES)")
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's (" + ", ".join(
        f"{name}: {recipe['epochs']}" for name, recipe in CLASSIFIER_RECIPES.items()) + ")")
    parser.add_argument("--depth", type=int, default=None, help="resnet20 recipe: 6n + 2 (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data_dir", default=None)
    parser.add_argument("--out", required=True, help="the classifier .keras file (a .json record beside it)")
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be at least 1; got {args.epochs}.")
    from ganzoo.runlock import RunLockedError

    try:
        record = train_reference_classifier(args.out, args.dataset, epochs=args.epochs, seed=args.seed,
                                            depth=args.depth, data_dir=args.data_dir, recipe=args.recipe)
    except (ValueError, RunLockedError) as error:  # bad input or a refused resume: the message says the fix
        parser.exit(2, f"train_classifier.py: error: {error}\n")
    print(json.dumps({k: v for k, v in record.items() if k != "recipe"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
