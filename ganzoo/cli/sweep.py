"""`ganzoo sweep run | export | figures | spaces`: the GAN Landscape's hyper-parameter study.

    ganzoo sweep run --out runs/sweep --space narrow --losses ns,wgan --trials 12 --sampler gp
    ganzoo sweep export --out runs/sweep            # runs/sweep/trials.csv
    ganzoo sweep figures --out runs/sweep --figures docs/figures

Start `ganzoo sweep run` as many times as you like (processes, machines, a Slurm array) with the
same --study and --storage: they share the trials. See docs/sweeps.md.
"""
import os


def _names(text):
    return tuple(name.strip() for name in text.split(",") if name.strip())


def register(subparsers):
    sweep = subparsers.add_parser(
        "sweep", help="hyper-parameter sweeps of the paper's search spaces (Optuna)",
        description="The GAN Landscape's study: losses x penalties x normalisations x "
                    "architectures, searched over learning rate, betas, disc_iters and penalty "
                    "weight, each trial a `ganzoo train` run scored by FID or KID.")
    commands = sweep.add_subparsers(dest="sweep_command", metavar="SWEEP_COMMAND")

    p = commands.add_parser("run", help="join (or create) a study and run its trials",
                            description="Join the study (creating it on first use) and run "
                                        "trials until it has --trials finished ones.")
    p.add_argument("--out", default="runs/sweep", help="folder of the trials' run folders and of "
                   "the default SQLite study (default runs/sweep)")
    p.add_argument("--study", default="ganzoo-sweep", help="study name (default ganzoo-sweep)")
    p.add_argument("--storage", default=None, help="database URL: sqlite:///PATH.db, "
                   "postgresql://USER@HOST:PORT/DB, mysql://... (default: sqlite OUT/study.db)")
    p.add_argument("--space", default="narrow", help="search space: wide or narrow (default)")
    p.add_argument("--architectures", default="sndcgan", type=_names,
                   help="comma-separated (default sndcgan)")
    p.add_argument("--losses", default="ns", type=_names, help="comma-separated (default ns)")
    p.add_argument("--penalties", default="none", type=_names,
                   help="comma-separated (default none)")
    p.add_argument("--normalizations", default="none,spectral", type=_names,
                   help="comma-separated (default none,spectral)")
    p.add_argument("--resolution", type=int, default=32, help="image size (default 32)")
    p.add_argument("--steps", type=int, default=1000, help="discriminator steps per trial "
                   "(default 1000; the paper: 100k-200k)")
    p.add_argument("--batch_size", type=int, default=64, help="default 64 (the paper's)")
    p.add_argument("--trials", type=int, required=True,
                   help="finished trials the study should reach (all workers together)")
    p.add_argument("--sampler", default="tpe", help="random, tpe (default) or gp (Gaussian "
                   "process, the paper's; needs torch and scipy)")
    p.add_argument("--pruner", default="median", help="median (default) or none")
    p.add_argument("--metric", default="fid", help="fid (default) or kid")
    p.add_argument("--eval_samples", type=int, default=2500,
                   help="generated and real images per score (default 2500)")
    p.add_argument("--eval_every", type=int, default=None,
                   help="also score every N D steps, for pruning (default: only at the end)")
    p.add_argument("--features", default="inception",
                   help="inception (default; FID/KID as published) or pixels (raw pixels: "
                        "smoke tests only, not comparable with any published number)")
    p.add_argument("--dataset", default="cifar10",
                   help="a `ganzoo train --dataset` value (default cifar10)")
    p.add_argument("--data_dir", default=None, help="as `ganzoo train --data_dir`")
    p.add_argument("--eval_split", default="test", help="real split scored against (default test)")
    p.add_argument("--seed", type=int, default=0, help="seed of every trial's training and "
                   "scoring (default 0; the same in every worker keeps trials comparable)")
    p.add_argument("--sampler_seed", type=int, default=None, help="seed of this worker's "
                   "sampler (default: fresh; workers given one seed would draw the same recipes)")
    p.add_argument("--heartbeat", type=int, default=60, help="seconds between a worker's "
                   "heartbeats (default 60)")
    p.add_argument("--grace", type=int, default=None, help="seconds without a heartbeat before "
                   "a trial counts as dead (default 2 x --heartbeat)")
    p.add_argument("--max_retry", type=int, default=3,
                   help="retries of a dead worker's trial (default 3)")
    p.add_argument("--progress", action="store_true", help="progress bars while training")
    p.set_defaults(func=cmd_run)

    p = commands.add_parser("export", help="write the trials as CSV",
                            description="Write every trial (recipe, scores, seconds, run "
                                        "folder) as one CSV row.")
    _study_arguments(p)
    p.add_argument("--csv", default=None, help="output file (default OUT/trials.csv)")
    p.set_defaults(func=cmd_export)

    p = commands.add_parser("figures", help="the paper's figures as PNG",
                            description="Box plots of the best scores per loss, normalisation "
                                        "and penalty; best score against the number of trials; "
                                        "a sample grid per configuration.")
    _study_arguments(p)
    p.add_argument("--figures", default=None, help="output folder (default OUT/figures)")
    p.add_argument("--top", type=float, default=0.05, help="fraction of each group's best "
                   "trials in the box plots (default 0.05, the paper's top 5%%; at least one)")
    p.set_defaults(func=cmd_figures)

    p = commands.add_parser("spaces", help="print the search spaces",
                            description="Print the parameters of the wide and narrow spaces.")
    p.set_defaults(func=cmd_spaces)
    sweep.set_defaults(func=lambda args: (sweep.print_help(), 2)[1])


def _study_arguments(p):
    p.add_argument("--out", default="runs/sweep", help="the sweep's folder (default runs/sweep)")
    p.add_argument("--study", default="ganzoo-sweep", help="study name (default ganzoo-sweep)")
    p.add_argument("--storage", default=None, help="database URL (default sqlite OUT/study.db)")


def _storage(args):
    from ganzoo.sweep import study

    return args.storage or study.default_storage(args.out)


def cmd_run(args):
    from ganzoo.sweep import study
    from ganzoo.sweep.spaces import SearchSpace, SweepError

    if args.trials < 1:
        raise SweepError(f"--trials must be at least 1; got {args.trials}.")
    space = SearchSpace(args.space, args.architectures, args.losses, args.penalties,
                        args.normalizations, args.resolution, args.steps, args.batch_size)
    settings = study.TrialSettings(
        args.out, dataset=args.dataset, data_dir=args.data_dir, metric=args.metric,
        eval_samples=args.eval_samples, eval_every=args.eval_every, features=args.features,
        eval_split=args.eval_split, seed=args.seed, progress=args.progress)
    study.make_sampler(args.sampler)  # a bad name fails before the storage is touched
    study.make_pruner(args.pruner)
    grace = args.grace if args.grace is not None else 2 * args.heartbeat
    ran = study.run_worker(_storage(args), args.study, space, settings, args.trials,
                           sampler=args.sampler, pruner=args.pruner, seed=args.sampler_seed,
                           heartbeat_interval=args.heartbeat, grace_period=grace,
                           max_retry=args.max_retry)
    print(f"ganzoo sweep: this worker ran {len(ran)} trial(s): {ran}")
    return 0


def cmd_export(args):
    from ganzoo.sweep import export

    path = args.csv or os.path.join(args.out, "trials.csv")
    rows = export.write_csv(export.load_rows(_storage(args), args.study), path)
    print(f"ganzoo sweep: {rows} trial(s) -> {path}")
    return 0


def cmd_figures(args):
    from ganzoo.sweep import export, figures

    folder = args.figures or os.path.join(args.out, "figures")
    written = figures.write_all(export.load_rows(_storage(args), args.study), folder,
                                top=args.top)
    for path in written:
        print(path)
    return 0


def cmd_spaces(args):
    from ganzoo.sweep import spaces

    print(spaces.__doc__.strip())
    return 0
