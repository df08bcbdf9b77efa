"""GAN losses on discriminator logits, chosen by name (compare_gan's loss_lib).

Each loss is a pair of pure functions: discriminator(real_logits, fake_logits) -> scalar and
generator(fake_logits) -> scalar.

Label smoothing (`with_label_smoothing`) replaces D's targets of the sigmoid cross-entropy losses
(ns, minimax): real 1 -> 1 - real_smoothing (one-sided, Salimans et al. 2016), fake 0 ->
fake_smoothing (two-sided when both are set). G's loss is unchanged. The other losses have no
targets to smooth (wgan, hinge) or targets with another meaning (ls, ls_raw): refused.
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


# The losses whose discriminator is a sigmoid cross entropy with targets 1 (real) and 0 (fake).
SMOOTHABLE = ("ns", "minimax")


def smoothed_sigmoid_d(real, fake, real_smoothing=0.0, fake_smoothing=0.0):
    """D's sigmoid cross entropy with smoothed targets: real 1 - real_smoothing, fake fake_smoothing."""
    return (ops.mean(sigmoid_cross_entropy(real, 1.0 - real_smoothing))
            + ops.mean(sigmoid_cross_entropy(fake, fake_smoothing)))


def check_label_smoothing(loss, real_smoothing=0.0, fake_smoothing=0.0):
    """ValueError (naming the fix) for smoothing that a loss cannot take; smoothing must lie in
    [0, 0.5) so that the real target stays above the fake one."""
    name = get_loss(loss).name
    for what, value in (("real_label_smoothing", real_smoothing), ("fake_label_smoothing", fake_smoothing)):
        if not 0.0 <= float(value) < 0.5:
            raise ValueError(f"{what} must be in [0, 0.5); got {value}.")
    if (real_smoothing or fake_smoothing) and name not in SMOOTHABLE:
        raise ValueError(
            f"label smoothing applies to the sigmoid cross-entropy losses ({', '.join(SMOOTHABLE)}), "
            f"whose D targets are 1 and 0; loss {name!r} has "
            + ("no targets to smooth" if name in ("wgan", "hinge") else "targets of another meaning")
            + ": use loss ns or minimax, or set real_label_smoothing and fake_label_smoothing to 0.")


def with_label_smoothing(loss, real_smoothing=0.0, fake_smoothing=0.0):
    """The GANLoss `loss` with D's targets smoothed; the loss itself (the same object) when both
    are 0, so that the default step is unchanged. ValueError for a loss without such targets."""
    loss = get_loss(loss)
    check_label_smoothing(loss, real_smoothing, fake_smoothing)
    if not (real_smoothing or fake_smoothing):
        return loss
    real_smoothing, fake_smoothing = float(real_smoothing), float(fake_smoothing)

    def discriminator(real, fake):
        return smoothed_sigmoid_d(real, fake, real_smoothing, fake_smoothing)

    return GANLoss(loss.name, discriminator, loss.generator)


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
