"""Option spellings shared by the subcommands.

`ganzoo` spells multi-word options with hyphens (--out-dir); the training/ scripts and the
commands in older docs spell them with underscores (--out_dir), as absl does. `add_option`
registers both spellings of one option; `PARSER_OPTIONS`, given to `add_parser`, lists each
option under its hyphenated spelling only, with a note that underscores work too.
"""
import argparse
import copy


def underscored(flag):
    """--out-dir -> --out_dir."""
    return "--" + flag[2:].replace("-", "_")


def add_option(parser, flag, **kwargs):
    """parser.add_argument(flag) that also accepts the underscore spelling of `flag`."""
    alias = underscored(flag)
    return parser.add_argument(*((flag, alias) if alias != flag else (flag,)), **kwargs)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Lists an option under its hyphenated spelling only (see add_option); descriptions and epilogs
    keep their line breaks."""

    def _format_action_invocation(self, action):
        shown = [o for o in action.option_strings
                 if not (o.startswith("--") and "_" in o and o.replace("_", "-") in action.option_strings)]
        if len(shown) != len(action.option_strings):
            action = copy.copy(action)
            action.option_strings = shown
        return super()._format_action_invocation(action)


PARSER_OPTIONS = {"formatter_class": HelpFormatter,
                  "epilog": "Options may also be spelled with underscores, as the training/ scripts\n"
                            "spell them (--num_samples for --num-samples)."}
