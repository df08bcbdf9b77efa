"""`ganzoo list | info | sample | fetch | export-preset`: the model zoo from a shell.

MODEL arguments are a zoo name, 'hf://owner/repo[@revision]' or a preset folder (ganzoo.load).
"""
import json
import os
import sys


def register(subparsers):
    p = subparsers.add_parser(
        "list", help="list the zoo's models",
        description="List the zoo's models (every configuration of the paper's best-model tables).",
    )
    p.add_argument("--dataset", help="only this data set (cifar10, celebahq, lsun_bedroom)")
    p.add_argument("--architecture", help="only this architecture (sndcgan, resnet_cifar, resnet19)")
    p.add_argument("--loss", help="only this loss (ns, ls, ...)")
    p.add_argument("--status", choices=("published", "partial", "recipe"),
                   help="only models trained for the recipe's steps (published), for fewer (partial), or recipes")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_list)

    p = subparsers.add_parser(
        "info", help="show one model's recipe, files and metrics",
        description="Show one model: its training recipe, the paper's FID, Hub files and our metrics.",
    )
    p.add_argument("name", help="a model name (see `ganzoo list`)")
    p.add_argument("--json", action="store_true", help="print the manifest entry as JSON")
    p.set_defaults(func=cmd_info)

    p = subparsers.add_parser(
        "sample", help="generate images with a pretrained model",
        description="Generate images with a pretrained model and write them as a grid PNG, a folder "
                    "of PNGs, or a .npz of float32 images in [0, 1].",
    )
    p.add_argument("name", metavar="MODEL", help="a zoo name (`ganzoo list`), hf://owner/repo[@revision] or a preset folder")
    p.add_argument("--num", type=int, default=64, help="number of images (default 64)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0); same seed, same images")
    p.add_argument("--out", required=True,
                   help="FILE.png: one grid; FILE.npz: array 'images' (N, H, W, 3); "
                        "any other path: a folder of 000000.png, 000001.png, ...")
    p.add_argument("--batch-size", type=int, default=64, help="images per generator call (default 64)")
    p.add_argument("--columns", type=int, default=None, help="grid columns (default: square)")
    p.add_argument("--class", dest="class_", default=None, metavar="CLASS",
                   help="conditional models: every image of this class, a name (CIFAR10: airplane, "
                        "automobile, bird, cat, deer, dog, frog, horse, ship, truck) or an index; "
                        "without it, a conditional model draws one row per class (NUM // classes each)")
    p.add_argument("--truncation", type=float, default=None, metavar="T",
                   help="truncation trick: every z component within [-T, T], T in (0, 1] (default: none); "
                        "higher fidelity, less diversity (FIDs are measured without it)")
    _trust_arguments(p)
    p.set_defaults(func=cmd_sample)

    p = subparsers.add_parser(
        "fetch", help="download and verify a model's files into the cache",
        description="Download a published model's files (cache, then mirror, then Hub), check each "
                    "sha256 and print where they are. Use it before going offline.",
    )
    p.add_argument("names", nargs="+", metavar="MODEL",
                   help="zoo names or hf://owner/repo[@revision] handles, or 'all' for every model with weights")
    p.add_argument("--all-files", action="store_true", help="also README.md, generator.keras and samples.png")
    _trust_arguments(p)
    p.set_defaults(func=cmd_fetch)

    p = subparsers.add_parser(
        "export-preset", help="turn a training run folder into a preset folder",
        description="Write the preset folder of a `ganzoo train` run (your own model): config.json, "
                    "metadata.json, weights, generator.keras, model card, samples. Then `ganzoo sample FOLDER`, "
                    "`ganzoo eval FOLDER` and ganzoo.load(FOLDER) use it. Zoo entries are published with "
                    "`ganzoo publish --config NAME`.",
    )
    p.add_argument("run_dir", help="`ganzoo train` --model_dir folder (with checkpoints/)")
    p.add_argument("--out", required=True, help="preset folder to write (new, empty, or a preset ganzoo wrote)")
    p.add_argument("--name", default=None, help="model name (default: the run folder's name)")
    p.add_argument("--metrics", action="append", default=[],
                   help="evaluation record ema=PATH, raw=PATH or PATH (repeatable)")
    p.add_argument("--num-samples", type=int, default=64, help="images in samples.png")
    p.set_defaults(func=cmd_export_preset)


def _trust_arguments(p):
    p.add_argument("--revision", default=None, help="Hub revision (default: the manifest's pinned one; another "
                   "revision needs --sha256 or --no-verify)")
    p.add_argument("--sha256", action="append", default=[], metavar="FILE=HEX",
                   help="trusted sha256 of a file, for a revision or hf:// repo the manifest does not pin (repeat)")
    p.add_argument("--no-verify", action="store_true",
                   help="load files without a trusted sha256 (NOT RECOMMENDED; ganzoo warns)")
    p.add_argument("--token", default=None, help="Hub token for the endpoint in use (default: huggingface.co's "
                   "stored token, sent to huggingface.co only)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _trust(args):
    hashes = {}
    for item in args.sha256:
        filename, sep, digest = item.partition("=")
        if not sep:
            raise ValueError(f"--sha256 {item!r}: write FILE=HEX, e.g. generator.weights.h5=3f2a...")
        hashes[filename] = digest
    return {"revision": args.revision, "sha256": hashes or None, "verify": not args.no_verify,
            "token": args.token, "progress": not args.no_progress}


def _fmt_fid(value):
    return "-" if value is None else f"{value:.2f}"


def _fmt_steps(row):
    def short(n):
        return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)

    trained = row.get("trained_steps")
    return f"{'-' if trained is None else short(trained)}/{short(row['steps'])}"


def cmd_list(args):
    from ganzoo.zoo import list_models

    rows = list_models(dataset=args.dataset, architecture=args.architecture, loss=args.loss, status=args.status)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("NAME", "STATUS", "RES", "D STEPS", "PAPER FID", "FID", "TITLE")
    table = [(r["name"], r["status"], str(r["resolution"]), _fmt_steps(r), _fmt_fid(r["paper_fid"]),
              _fmt_fid(r["fid"]), r["title"]) for r in rows]
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header) - 1)]
    for row in [header, *table]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    published = sum(r["status"] == "published" for r in rows)
    partial = sum(r["status"] == "partial" for r in rows)
    print(f"\n{len(rows)} models: {published} published, {partial} partial (the recipe trained for fewer steps "
          f"than the paper's). D STEPS: trained / the recipe's. `ganzoo info NAME` for details.")
    _print_classifiers(args.dataset)
    return 0


def _print_classifiers(dataset=None):
    """GAN-test's published reference classifiers (ganzoo.zoo.classifiers), after the models."""
    from ganzoo.zoo import classifiers

    rows = [e for e in classifiers.entries().values() if dataset in (None, e["dataset"])]
    if not rows:
        return
    print("\nGAN-test classifiers (ganzoo.load_classifier(NAME); `ganzoo eval MODEL --metrics gan_test` uses "
          "the model data set's):")
    width = max(len(e["name"]) for e in rows)
    for e in rows:
        print(f"  {e['name'].ljust(width)}  {e['dataset']}  {100 * e['real_test_accuracy']:.2f}% real test accuracy  "
              f"{e['title']}")


def _classifier_info(entry, as_json):
    """`ganzoo info` of a published GAN-test classifier."""
    if as_json:
        print(json.dumps(entry, indent=2))
        return 0
    hub = entry["hub"]
    print(f"{entry['name']}: {entry['title']}")
    print(f"GAN-test's reference classifier of {entry['dataset']}: {entry['num_classes']} classes, "
          f"{entry['resolution']}x{entry['resolution']} images in [0, 1]")
    print(f"real test accuracy: {100 * entry['real_test_accuracy']:.2f}%   epochs: {entry['epochs']}   "
          f"weights sha256: {entry['weights_sha256']}")
    print(f"Hub repo: {hub['repo_id']}   revision: {hub['revision'] or '(none: mirror only)'}")
    for filename, record in hub["files"].items():
        print(f"  {filename:26s} {record['size']:>11d} bytes  sha256 {record['sha256']}")
    print(f'load: ganzoo.load_classifier("{entry["name"]}")   or   ganzoo eval MODEL --metrics gan_test '
          f"--classifier {entry['name']}")
    return 0


def cmd_info(args):
    from ganzoo.zoo import classifiers, manifest
    from ganzoo.zoo.loading import recipe_message

    if str(args.name).strip().lower() in classifiers.entries():
        return _classifier_info(classifiers.get_entry(args.name), args.json)
    entry = manifest.get_entry(args.name)
    if args.json:
        print(json.dumps(entry, indent=2))
        return 0
    name, paper, hub = entry["name"], entry["paper"], entry["hub"]
    print(f"{name}: {entry['title']}")
    print(f"status: {entry['status']}   data set: {entry['dataset']}")
    print("training recipe (ganzoo.build_gan keyword arguments; steps = discriminator steps):")
    for key, value in entry["training"].items():
        flag = "   (not stated in the paper's tables; default used)" if key in paper["unverified"] else ""
        print(f"  {key:15s} {value}{flag}")
    if paper["fid"] is not None:
        print(f"paper FID: {paper['fid']:g}  ({paper['fid_protocol']}; {paper['source']})")
    else:
        print(f"paper FID: not recorded ({paper['source']})")
    for target in entry.get("targets") or []:  # other implementations' figures, with their protocols
        print(f"target {target['metric'].upper()}: {target['value']:g}  ({target['protocol']}; {target['source']})")
    if paper.get("note"):
        print(f"note: {paper['note']}")
    trained = entry.get("trained")
    if trained:
        note = " (partial: fewer steps than the paper's recipe)" if entry["status"] == "partial" else ""
        print(f"trained: {trained['d_steps']:,} of the recipe's {entry['training']['steps']:,} discriminator steps "
              f"({trained['g_steps']:,} generator steps){note}")
    protocols = {metric["protocol"] for metric in entry["metrics"]}
    shared = len(protocols) == 1 and len(entry["metrics"]) > 1  # one evaluation: say its protocol once
    for metric in entry["metrics"]:
        paper_text = f"   (paper: {paper['fid']:g})" if metric["name"].lower() == "fid" and paper["fid"] else ""
        spread = (metric.get("details") or {}).get("std")
        spread_text = f" +- {spread:.2g}" if isinstance(spread, (int, float)) else ""
        protocol_text = "" if shared else f"  (protocol: {metric['protocol']})"
        print(f"measured {metric['name']}: {metric['value']:.4g}{spread_text}{paper_text}{protocol_text}")
    if shared:
        print(f"protocol of these measurements: {protocols.pop()}")
    if entry["status"] in ("published", "partial") and not entry["metrics"]:
        print("measured FID: not evaluated")
    loadable = entry["status"] in ("published", "partial")
    pinned = hub["revision"] or ("(none: mirror only)" if loadable else "(not published)")
    print(f"Hub repo: {hub['repo_id']}   revision: {pinned}")
    for filename, record in hub["files"].items():
        print(f"  {filename:26s} {record['size']:>11d} bytes  sha256 {record['sha256']}")
    if loadable:
        print(f'load: ganzoo.load("{name}")   or   ganzoo sample {name} --num 64 --out samples.png')
    else:
        print(recipe_message(entry))
    return 0


def _write_images(images, out, columns=None, labels=None):
    from ganzoo.utils.images import save_grid, to_uint8

    if out.lower().endswith(".png"):
        return save_grid(images, out, columns=columns)
    if out.lower().endswith(".npz"):
        import numpy as np

        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        np.savez_compressed(out, images=images, **({} if labels is None else {"labels": labels}))
        return out
    from PIL import Image

    os.makedirs(out, exist_ok=True)
    for index, image in enumerate(to_uint8(images)):
        Image.fromarray(image).save(os.path.join(out, f"{index:06d}.png"))
    return out


def cmd_sample(args):
    import numpy as np
    from tqdm import tqdm

    from ganzoo.zoo import load

    from ganzoo.architectures import check_truncation, sample_noise

    if args.num < 1 or args.batch_size < 1:
        raise ValueError("--num and --batch-size must be at least 1.")
    truncation = check_truncation(args.truncation, "--truncation")  # before any download
    generator = load(args.name, **_trust(args))
    labels, columns, what = _sample_labels(generator, args)
    num = args.num if labels is None else len(labels)

    # Same z as generator.sample(num, seed=seed, truncation=...), drawn once, then batch by batch.
    z = sample_noise(num, generator.z_dim, args.seed, truncation)
    chunks = []
    with tqdm(total=num, desc=f"sampling {args.name}", unit="img", disable=args.no_progress,
              file=sys.stderr) as bar:
        for start in range(0, num, args.batch_size):
            batch = z[start : start + args.batch_size]
            batch_labels = None if labels is None else labels[start : start + args.batch_size]
            chunks.append(generator.sample(len(batch), z=batch, batch_size=args.batch_size, labels=batch_labels))
            bar.update(len(batch))
    images = np.concatenate(chunks, axis=0)
    path = _write_images(images, args.out, columns=columns, labels=labels)
    truncated = f", truncation {truncation:g}" if truncation is not None else ""
    print(f"{num} images of {args.name}{what} (seed {args.seed}{truncated}) -> {path}")
    return 0


def _sample_labels(generator, args):
    """(labels or None, grid columns, a phrase) of `ganzoo sample`: --class for every image, or one
    row per class for a conditional model without it."""
    import numpy as np

    from ganzoo.zoo.classes import class_index, class_names

    num_classes = int(getattr(generator, "num_classes", 0) or 0)
    info = getattr(generator, "preset_info", None)
    names = class_names(num_classes, getattr(info, "dataset", None)) if num_classes else None
    if args.class_ is not None:
        if not num_classes:
            raise ValueError(f"--class {args.class_}: {args.name} is unconditional (no classes); drop --class.")
        index = class_index(args.class_, num_classes, names)
        label = names[index] if names else str(index)
        return np.full((args.num,), index, dtype="int32"), args.columns, f", class {label}"
    if not num_classes:
        return None, args.columns, ""
    from ganzoo.architectures import class_rows

    per_class = args.columns or max(1, args.num // num_classes)
    return class_rows(num_classes, per_class), per_class, f", one row per class ({per_class} each)"


def cmd_fetch(args):
    from ganzoo.zoo import manifest
    from ganzoo.zoo.loading import published_files

    names = args.names
    if names == ["all"]:
        names = [n for n, e in manifest.entries().items() if e["status"] in manifest.LOADABLE]
        if not names:
            print("No model has published weights yet; `ganzoo list` shows the recipes.")
            return 0
    files = list(manifest.PUBLISHED_FILES) if args.all_files else None
    for name in names:
        paths = published_files(name, files=files, **_trust(args))
        for filename, path in paths.items():
            print(f"{name}: {filename} verified -> {path}")
    return 0


def cmd_export_preset(args):
    from ganzoo.zoo import publishing

    records, summary = publishing.publish_run(args.run_dir, args.out, name=args.name, metrics=args.metrics,
                                              num_samples=args.num_samples)
    for filename, record in records.items():
        print(f"{args.out}/{filename}  {record['size']} bytes  sha256 {record['sha256']}")
    print(f"{summary['name']}: {summary['d_steps']} discriminator steps on {summary['dataset']}; inference "
          f"generator {summary['inference']['generator']} ({summary['inference']['reason']}).")
    print(f"Use it: ganzoo sample {args.out} --out grid.png   |   ganzoo.load({str(args.out)!r})")
    return 0
