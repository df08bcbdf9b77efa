"""Hyper-parameter sweeps of the GAN Landscape on Optuna (`ganzoo sweep`, docs/sweeps.md).

spaces: the paper's search spaces (wide, narrow) over the cells chosen; study: storage, samplers,
the trial objective (a `ganzoo train` run scored by FID or KID) and the worker loop; export: the
trials as CSV; figures: the paper's plots from that CSV.
"""
from ganzoo.sweep.spaces import RANGES, SearchSpace, SweepError  # noqa: F401
