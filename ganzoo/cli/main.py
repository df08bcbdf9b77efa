"""Entry point of the `ganzoo` console script.

Each subcommand module exposes `register(subparsers)`, adding its commands with a
`func(args) -> int` default; this file only assembles them, and turns the errors a user can fix
(bad input, a missing or corrupt file, a full disk, an unsupported Keras backend) into one line
on stderr and a non-zero exit status instead of a traceback.
"""
import argparse
import importlib
import os
import sys

SUBCOMMAND_MODULES = ("ganzoo.cli.zoo", "ganzoo.cli.evaluation", "ganzoo.cli.publish",
                      "ganzoo.cli.sweep")
SUPPORTED_BACKENDS = ("tensorflow", "jax")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ganzoo",
        description="The GAN Landscape model zoo: train, list, sample, evaluate and fetch models.",
    )
    from ganzoo import __version__

    parser.add_argument("--version", action="version", version=f"ganzoo {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Listed here for --help only: main() hands `ganzoo train ...` to ganzoo.cli.train (absl flags).
    subparsers.add_parser("train", add_help=False,
                          help="train a model with the paper's recipe, resumably (ganzoo train --help)")
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def unsupported_backend():
    """The message for a KERAS_BACKEND ganzoo cannot run on, or None (read from the environment,
    without importing Keras; a backend chosen in keras.json is caught when Keras loads)."""
    backend = os.environ.get("KERAS_BACKEND", "").strip()
    if backend and backend not in SUPPORTED_BACKENDS:
        return (f"ganzoo supports the 'tensorflow' and 'jax' Keras backends; KERAS_BACKEND is "
                f"{backend!r}. Set KERAS_BACKEND=tensorflow or KERAS_BACKEND=jax.")
    return None


def main(argv=None):
    problem = unsupported_backend()
    if problem:
        print(f"ganzoo: error: {problem}", file=sys.stderr)
        return 2
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train"]:  # absl flags (the training scripts' own), parsed by ganzoo.cli.train
        from ganzoo.cli import prepare_training_environment

        prepare_training_environment(argv[1:])  # before ganzoo.cli.train loads TensorFlow
        from ganzoo.cli import train

        return train.command(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, OSError, RuntimeError, ImportError) as error:
        # ValueError: bad input or a corrupt file (DataError, StatsFileError, WeightsFileError...);
        # OSError: missing files, a full disk (OutputError); ImportError: an unsupported backend.
        print(f"ganzoo {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ganzoo {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
