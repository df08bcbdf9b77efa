r"""Train a GAN of the GAN Landscape zoo: the same command as `ganzoo train` (see its --help).

    python training/train.py --config sndcgan-ns-sn-cifar10 --model_dir runs/sndcgan-sn
    python training/train.py --config sndcgan-ns-sn-cifar10 --model_dir runs/sndcgan-sn --resume

The logic lives in the package (ganzoo/cli/train.py reads the flags, ganzoo/training.py runs), so a
pip-installed ganzoo trains the same way.
"""
import sys

from ganzoo.cli import prepare_training_environment

prepare_training_environment(sys.argv[1:])  # before ganzoo.cli.train loads TensorFlow
from ganzoo.cli import train  # noqa: E402

if __name__ == "__main__":
    sys.exit(train.command(sys.argv[1:]))
