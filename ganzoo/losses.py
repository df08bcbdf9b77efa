"""GAN losses on discriminator logits, chosen by name (compare_gan's loss_lib).

Each loss is a pair of pure functions: discriminator(real_logits, fake_logits) -> scalar and
generator(fake_logits) -> scalar.
"""
import collections
import difflib

from keras import ops

GANLoss = collections.namedtuple("GANLoss", ["name", "discriminator", "generator"])


def sigmoid_cross_entropy(logits, labels):
    """Elementwise sigmoid cross entropy, the numerically stable form TF uses."""
    return ops.relu(logits) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))


def _ns_d(real, fake):
    return ops.mean(sigmoid_cross_entropy(real, 1.0)) + ops.mean(sigmoid_cross_entropy(fake, 0.0))


def _ns_g(fake):
    return ops.mean(sigmoid_cross_entropy(fake, 1.0))


def _minimax_g(fake):
    return -ops.mean(sigmoid_cross_entropy(fake, 0.0))


def _wgan_d(real, fake):
    return -ops.mean(real) + ops.mean(fake)


def _wgan_g(fake):
    return -ops.mean(fake)


def _ls_d(real, fake):
    # The paper's code applies least squares to sigmoid(logit), not to the raw output.
    return 0.5 * (ops.mean(ops.square(ops.sigmoid(real) - 1.0)) + ops.mean(ops.square(ops.sigmoid(fake))))


def _ls_g(fake):
    return 0.5 * ops.mean(ops.square(ops.sigmoid(fake) - 1.0))


def _ls_raw_d(real, fake):
    # Mao et al.'s original LSGAN (a=0, b=c=1) on the raw discriminator output.
    return 0.5 * (ops.mean(ops.square(real - 1.0)) + ops.mean(ops.square(fake)))


def _ls_raw_g(fake):
    return 0.5 * ops.mean(ops.square(fake - 1.0))


def _hinge_d(real, fake):
    return ops.mean(ops.relu(1.0 - real)) + ops.mean(ops.relu(1.0 + fake))


LOSSES = {
    "ns": GANLoss("ns", _ns_d, _ns_g),
    "minimax": GANLoss("minimax", _ns_d, _minimax_g),
    "wgan": GANLoss("wgan", _wgan_d, _wgan_g),
    "ls": GANLoss("ls", _ls_d, _ls_g),
    "ls_raw": GANLoss("ls_raw", _ls_raw_d, _ls_raw_g),
    "hinge": GANLoss("hinge", _hinge_d, _wgan_g),
}

ALIASES = {
    "non_saturating": "ns",
    "nsgan": "ns",
    "mm": "minimax",
    "saturating": "minimax",
    "wasserstein": "wgan",
    "least_squares": "ls",
    "least_squares_raw": "ls_raw",
}


def get_loss(name):
    """The GANLoss for a name (or alias); ValueError listing the valid names otherwise."""
    if isinstance(name, GANLoss):
        return name
    key = str(name).lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in LOSSES:
        close = difflib.get_close_matches(key, list(LOSSES) + list(ALIASES), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown loss {name!r}; valid choices: {', '.join(LOSSES)} "
            f"(aliases: {', '.join(ALIASES)}).{hint}"
        )
    return LOSSES[key]
