"""Publish a training run: write its preset folder, record it in the manifest, upload it.

This script is `ganzoo publish` (ganzoo/cli/publish.py, ganzoo.zoo.publishing.publish), kept for
the training/ layout; it takes the same options, in the underscore spelling too (--out_dir).

    # A zoo entry (the paper's recipe), trained for all its steps or fewer (--status partial):
    python training/publish.py --config sndcgan-ns-sn-cifar10 --checkpoint runs/sndcgan-ns-sn-cifar10 \
        --metrics ema=eval_ema.json --metrics raw=eval_raw.json --status partial --dry_run
    python training/publish.py --config sndcgan-ns-sn-cifar10 --checkpoint runs/sndcgan-ns-sn-cifar10 \
        --metrics ema=eval_ema.json --metrics raw=eval_raw.json --status partial --token "$HF_TOKEN"

    # Your own model: a preset folder you can load, sample and evaluate (and upload):
    python training/publish.py --checkpoint runs/mine --out_dir presets/mine [--repo_id you/mine --token ...]
    ganzoo sample presets/mine --out grid.png ; ganzoo eval presets/mine --real ... ; ganzoo.load("presets/mine")

`python training/publish.py --help` (or `ganzoo publish --help`) lists the options.
"""
import sys

from ganzoo.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["publish", *sys.argv[1:]]))
