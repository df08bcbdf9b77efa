"""Small helpers shared across ganzoo."""
