"""`ganzoo list | info | sample | fetch`: the model zoo from a shell."""
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
    p.add_argument("--status", choices=("published", "recipe"), help="only published models, or only recipes")
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
    p.add_argument("name", help="a model name (see `ganzoo list`)")
    p.add_argument("--num", type=int, default=64, help="number of images (default 64)")
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0); same seed, same images")
    p.add_argument("--out", required=True,
                   help="FILE.png: one grid; FILE.npz: array 'images' (N, H, W, 3); "
                        "any other path: a folder of 000000.png, 000001.png, ...")
    p.add_argument("--batch-size", type=int, default=64, help="images per generator call (default 64)")
    p.add_argument("--columns", type=int, default=None, help="grid columns (default: square)")
    p.add_argument("--revision", default=None, help="Hub revision (default: the manifest's pinned one)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_sample)

    p = subparsers.add_parser(
        "fetch", help="download and verify a model's files into the cache",
        description="Download a published model's files (cache, then mirror, then Hub), check each "
                    "sha256 and print where they are. Use it before going offline.",
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="model names, or 'all' for every published model")
    p.add_argument("--revision", default=None, help="Hub revision (default: the manifest's pinned one)")
    p.add_argument("--all-files", action="store_true", help="also README.md and samples.png")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_fetch)


def _fmt_fid(value):
    return "-" if value is None else f"{value:.2f}"


def cmd_list(args):
    from ganzoo.zoo import list_models

    rows = list_models(dataset=args.dataset, architecture=args.architecture, loss=args.loss, status=args.status)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("NAME", "STATUS", "RES", "PAPER FID", "FID", "TITLE")
    table = [(r["name"], r["status"], str(r["resolution"]), _fmt_fid(r["paper_fid"]), _fmt_fid(r["fid"]), r["title"])
             for r in rows]
    widths = [max(len(row[i]) for row in [header, *table]) for i in range(len(header) - 1)]
    for row in [header, *table]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1])
    published = sum(r["status"] == "published" for r in rows)
    print(f"\n{len(rows)} models, {published} with published weights. `ganzoo info NAME` for details.")
    return 0


def cmd_info(args):
    from ganzoo.zoo import manifest
    from ganzoo.zoo.loading import recipe_message

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
    if paper.get("note"):
        print(f"note: {paper['note']}")
    for metric in entry["metrics"]:
        print(f"measured {metric['name']}: {metric['value']:.4g}  (protocol: {metric['protocol']})")
    pinned = hub["revision"] or ("(none: mirror only)" if entry["status"] == "published" else "(not published)")
    print(f"Hub repo: {hub['repo_id']}   revision: {pinned}")
    for filename, record in hub["files"].items():
        print(f"  {filename:26s} {record['size']:>11d} bytes  sha256 {record['sha256']}")
    if entry["status"] == "published":
        print(f'load: ganzoo.load("{name}")   or   ganzoo sample {name} --num 64 --out samples.png')
    else:
        print(recipe_message(entry))
    return 0


def _write_images(images, out, columns=None):
    from ganzoo.utils.images import save_grid, to_uint8

    if out.lower().endswith(".png"):
        return save_grid(images, out, columns=columns)
    if out.lower().endswith(".npz"):
        import numpy as np

        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        np.savez_compressed(out, images=images)
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

    if args.num < 1 or args.batch_size < 1:
        raise ValueError("--num and --batch-size must be at least 1.")
    generator = load(args.name, revision=args.revision, progress=not args.no_progress)
    from ganzoo.architectures import sample_noise

    # Same z as generator.sample(num, seed=seed), drawn once, then generated batch by batch.
    z = sample_noise(args.num, generator.z_dim, args.seed)
    chunks = []
    with tqdm(total=args.num, desc=f"sampling {args.name}", unit="img", disable=args.no_progress,
              file=sys.stderr) as bar:
        for start in range(0, args.num, args.batch_size):
            batch = z[start : start + args.batch_size]
            chunks.append(generator.sample(len(batch), z=batch, batch_size=args.batch_size))
            bar.update(len(batch))
    images = np.concatenate(chunks, axis=0)
    path = _write_images(images, args.out, columns=args.columns)
    print(f"{args.num} images of {args.name} (seed {args.seed}) -> {path}")
    return 0


def cmd_fetch(args):
    from ganzoo.zoo import manifest
    from ganzoo.zoo.loading import published_files, recipe_message

    names = args.names
    if names == ["all"]:
        names = [n for n, e in manifest.entries().items() if e["status"] == "published"]
        if not names:
            print("No model has published weights yet; `ganzoo list` shows the recipes.")
            return 0
    files = list(manifest.PUBLISHED_FILES) if args.all_files else None
    failed = 0
    for name in names:
        entry = manifest.get_entry(name)
        if entry["status"] != "published":
            print(recipe_message(entry), file=sys.stderr)
            failed += 1
            continue
        paths = published_files(name, revision=args.revision, files=files, progress=not args.no_progress)
        for filename, path in paths.items():
            print(f"{name}: {filename} verified -> {path}")
    return 1 if failed else 0

