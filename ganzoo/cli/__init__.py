"""The `ganzoo` command line."""
