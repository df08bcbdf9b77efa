"""`ganzoo publish`: a training run -> its preset folder, the manifest entry, the Hub upload.

    # A zoo entry (the paper's recipe), trained for all its steps or fewer (--status partial):
    ganzoo publish --config sndcgan-ns-sn-cifar10 --checkpoint runs/sndcgan-ns-sn-cifar10 \\
        --metrics ema=eval_ema.json --metrics raw=eval_raw.json --status partial --dry-run
    ganzoo publish --config sndcgan-ns-sn-cifar10 --checkpoint runs/sndcgan-ns-sn-cifar10 \\
        --metrics ema=eval_ema.json --metrics raw=eval_raw.json --status partial --token "$HF_TOKEN"

    # Your own model: a preset folder you can load, sample and evaluate (and upload):
    ganzoo publish --checkpoint runs/mine --out-dir presets/mine [--repo-id you/mine --token ...]

    # More measurements of published weights (the weights are kept; the card and manifest updated):
    ganzoo eval sndcgan-ns-sn-cifar10 --metrics nearest_neighbours --out nn.json
    ganzoo publish --config sndcgan-ns-sn-cifar10 --add-metrics nn.json
    ganzoo sample presets/mine --out grid.png ; ganzoo eval presets/mine --real ... ; ganzoo.load("presets/mine")

The work is ganzoo.zoo.publishing.publish (the same from Python); training/publish.py forwards
its command line here. Options also take the underscore spelling (--out_dir, --dry_run).
"""
from ganzoo.cli.options import PARSER_OPTIONS, add_option

DESCRIPTION = """\
Publish a training run: write its preset folder, record it in the manifest, upload it.

--checkpoint is a training run folder (its --model_dir). The steps, hyper-parameters and data set
come from its newest checkpoint; its final weight files must match that checkpoint; fid.jsonl (the
FID curve) goes into metadata.json. --metrics are evaluation records (`ganzoo eval --out`, with
--generator-weights for a run's own generators): LABEL=PATH with LABEL ema or raw, or PATH (the
generator is read from the record's generator_weights). With both generators evaluated the one with
the lower FID is published, and the card says which and why.

A zoo entry (--config NAME) is written to the mirror (hub_mirror/<org>/<repo>/ or $GANZOO_HUB_DIR)
by default; without --dry-run it becomes "published" or "partial" in the manifest, and with a token
it is uploaded and its commit pinned. Without --config the run is your own model: give --out-dir.
--out-dir must be new, empty, or a preset folder ganzoo wrote: nothing else is ever deleted. A run
is not written over a preset that scores a lower FID on the same protocol (the zoo keeps the better
model) unless --replace says so.
$HF_TOKEN is used for https://huggingface.co only; another --endpoint needs --token."""


def register(subparsers):
    p = subparsers.add_parser("publish", help="publish a training run as a preset (zoo entry or your own model)",
                              description=DESCRIPTION, **PARSER_OPTIONS)
    p.add_argument("--config", default=None, metavar="NAME",
                   help="zoo entry (see `ganzoo list`) whose recipe the run follows; without it the run is "
                        "published as your own model (needs --out-dir)")
    p.add_argument("--checkpoint", default=None, metavar="RUN_DIR",
                   help="training run folder (the --model_dir of `ganzoo train`)")
    add_option(p, "--add-metrics", action="append", default=[], metavar="PATH",
               help="instead of --checkpoint: an evaluation record of the published weights (`ganzoo eval MODEL "
                    "--out PATH`) to add to the card and metadata.json of --config NAME (or of the preset "
                    "--out-dir); the weights are kept, a measurement replaces the one of the same name")
    p.add_argument("--metrics", action="append", default=[], metavar="[LABEL=]PATH",
                   help="evaluation record: ema=PATH, raw=PATH or PATH (repeat for both generators); each "
                        "number goes to the card and metadata.json with its protocol")
    p.add_argument("--status", choices=("published", "partial"), default=None,
                   help="zoo entries: published (all the recipe's steps) or partial (fewer); default: "
                        "published, refused when steps are missing")
    p.add_argument("--name", default=None, help="name of your own model (default: the run folder's name)")
    add_option(p, "--dataset-name", default=None, metavar="NAME",
               help="zoo data set the run's --dataset path is a copy of (cifar10, celebahq, lsun_bedroom), "
                    "when it trained from a folder or tar")
    add_option(p, "--out-dir", default=None, metavar="DIR",
               help="preset folder to write (zoo entries default to the mirror, $GANZOO_HUB_DIR or "
                    "hub_mirror/, under <org>/<repo>)")
    add_option(p, "--repo-id", default=None, metavar="OWNER/NAME",
               help="Hub repo id (zoo entries default to the manifest's)")
    p.add_argument("--token", default=None,
                   help="Hub token with write access (default: $HF_TOKEN, for huggingface.co only); "
                        "without one nothing is uploaded")
    p.add_argument("--endpoint", default=None, metavar="URL",
                   help="Hub endpoint (default: $HF_ENDPOINT or https://huggingface.co)")
    p.add_argument("--private", action="store_true", help="create the Hub repo as private")
    add_option(p, "--dry-run", action="store_true",
               help="only write the folder: no upload, manifest unchanged")
    add_option(p, "--num-samples", type=int, default=64, metavar="N", help="images in samples.png (default 64)")
    add_option(p, "--sample-seed", type=int, default=0, metavar="SEED", help="seed of the samples in samples.png (default 0)")
    add_option(p, "--discriminator-dtype", choices=("float16", "float32"), default="float16",
               help="storage of discriminator.weights.h5 (default float16)")
    p.add_argument("--manifest", default=None, metavar="PATH", help="weights_manifest.json to update (default: ganzoo's)")
    p.add_argument("--replace", action="store_true",
                   help="write over a published model that scores a lower FID on the same protocol (or "
                        "whose FID cannot be compared with this run's); refused without it")
    add_option(p, "--exclude-metrics", type=_names, default=[], metavar="NAME[,NAME]",
               help="metrics of the --metrics records not to publish (e.g. kid,kid_stderr when they were "
                    "measured with a since-fixed bug); fid cannot be excluded")
    p.set_defaults(func=cmd_publish)


def _names(text):
    return [name.strip() for name in text.split(",") if name.strip()]


def cmd_publish(args):
    import os

    from ganzoo.zoo import publishing

    endpoint = args.endpoint or os.environ.get("HF_ENDPOINT")
    if bool(args.checkpoint) == bool(args.add_metrics):
        raise ValueError("give --checkpoint RUN_DIR (publish a training run) or --add-metrics EVAL.json (add "
                         "measurements to a published model), not both or neither")
    if args.add_metrics:
        given = [flag for flag, value in (("--metrics", args.metrics), ("--status", args.status), ("--name", args.name),
                                          ("--dataset-name", args.dataset_name)) if value]
        if given:
            raise ValueError(f"{', '.join(given)}: only with --checkpoint; --add-metrics keeps the published "
                             f"model as it is and adds measurements")
        publishing.add_measurements(
            args.config, args.add_metrics, out_dir=args.out_dir, repo_id=args.repo_id,
            token=publishing.upload_token(args.token, endpoint), endpoint=endpoint, private=args.private,
            dry_run=args.dry_run, manifest_path=args.manifest, exclude_metrics=args.exclude_metrics)
        return 0
    publishing.publish(
        args.config, args.checkpoint, metrics=args.metrics, status=args.status, name=args.name,
        dataset_name=args.dataset_name, out_dir=args.out_dir, repo_id=args.repo_id,
        token=publishing.upload_token(args.token, endpoint), endpoint=endpoint, private=args.private,
        dry_run=args.dry_run, num_samples=args.num_samples, sample_seed=args.sample_seed,
        discriminator_dtype=args.discriminator_dtype, manifest_path=args.manifest,
        exclude_metrics=args.exclude_metrics, replace=args.replace,
    )
    return 0
