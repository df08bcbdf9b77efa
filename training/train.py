r"""Train a GAN of the GAN Landscape zoo: the same command as `ganzoo train` (see its --help).

    python training/train.py --config sndcgan-ns-sn-cifar10 --model_dir runs/sndcgan-sn
    python training/train.py --config sndcgan-ns-sn-cifar10 --model_dir runs/sndcgan-sn --resume

The logic lives in the package (ganzoo/cli/train.py reads the flags, ganzoo/training.py runs), so a
pip-installed ganzoo trains the same way.
"""
import sys

from ganzoo.cli import train

if __name__ == "__main__":
    sys.exit(train.command(sys.argv[1:]))
