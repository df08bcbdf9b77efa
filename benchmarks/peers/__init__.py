"""Self-contained peer implementations timed by benchmarks/train_step.py (they do not import ganzoo)."""
