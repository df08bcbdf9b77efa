"""Entry point of the `ganzoo` console script.

Each subcommand module exposes `register(subparsers)`, adding its commands with a
`func(args) -> int` default; this file only assembles them.
"""
import argparse
import importlib
import sys

SUBCOMMAND_MODULES = ("ganzoo.cli.zoo", "ganzoo.cli.evaluation")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="ganzoo",
        description="The GAN Landscape model zoo: list, sample, evaluate and fetch models.",
    )
    from ganzoo import __version__

    parser.add_argument("--version", action="version", version=f"ganzoo {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"ganzoo {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
