"""The one place that says where ganzoo keeps downloaded and converted files.

`cache_dir()` is $GANZOO_CACHE when set, otherwise ~/.cache/ganzoo; the folder is created on
first use. Sub-folders name what they hold (for example `inception/`, `fid_stats/`, `models/`).
"""
import os
import pathlib

ENV_VAR = "GANZOO_CACHE"
DEFAULT = pathlib.Path("~/.cache/ganzoo")


def cache_dir(*parts) -> pathlib.Path:
    """Return the cache folder (or a sub-folder of it, given path parts), creating it."""
    root = os.environ.get(ENV_VAR) or str(DEFAULT)
    path = pathlib.Path(root).expanduser().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
