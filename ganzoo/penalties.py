"""Discriminator penalties, chosen by name (compare_gan's penalty_lib, plus R1).

Every penalty has one signature, so the train step needs no special cases:

    penalty(discriminator, real, fake, kernels, uniform) -> scalar

`discriminator(x)` returns logits (the caller binds the current weights), `kernels` are D's
weight matrices (biases excluded), `uniform(shape)` draws U[0, 1) noise (the step passes
ganzoo.random's backend-independent stream). The step adds
`penalty_weight * penalty` to the discriminator loss.
"""
import difflib

from keras import ops

from ganzoo.backend import input_gradient


def _per_sample_axes(x):
    """Every axis but the batch's: (1, 2, 3) for images, (1,) for 2-D points (mlp2d)."""
    return tuple(range(1, len(x.shape)))


def _slope_penalty(discriminator, points):
    """E[(sqrt(1e-4 + ||dD/dx||^2) - 1)^2], the slope form shared by WGAN-GP and DRAGAN."""
    gradients = input_gradient(discriminator, points)
    slopes = ops.sqrt(1e-4 + ops.sum(ops.square(gradients), axis=_per_sample_axes(gradients)))
    return ops.mean(ops.square(slopes - 1.0))


def no_penalty(discriminator, real, fake, kernels, uniform):
    return ops.zeros((), dtype=real.dtype)


def wgan_gp_penalty(discriminator, real, fake, kernels, uniform):
    """Gulrajani et al.: slope penalty on random interpolates of real and fake."""
    alpha = ops.cast(uniform((real.shape[0],) + (1,) * (len(real.shape) - 1)), real.dtype)
    interpolates = real + alpha * (fake - real)
    return _slope_penalty(discriminator, interpolates)


def dragan_penalty(discriminator, real, fake, kernels, uniform):
    """Kodali et al.: slope penalty around the real data; one std over the whole batch."""
    std = ops.std(real)
    noise = ops.cast(uniform(tuple(real.shape)), real.dtype) - 0.5
    noisy = ops.clip(real + std * noise, 0.0, 1.0)
    return _slope_penalty(discriminator, noisy)


def r1_penalty(discriminator, real, fake, kernels, uniform):
    """Mescheder et al. 2018: 1/2 E[||dD/dx||^2] on real data (weight = gamma)."""
    gradients = input_gradient(discriminator, real)
    return 0.5 * ops.mean(ops.sum(ops.square(gradients), axis=_per_sample_axes(gradients)))


def l2_penalty(discriminator, real, fake, kernels, uniform):
    """Mean over D's kernels of l2_loss(W) = sum(W^2) / 2, biases excluded."""
    if not kernels:
        raise ValueError("The L2 penalty needs the discriminator's kernels; none were given.")
    return ops.mean(ops.stack([0.5 * ops.sum(ops.square(w)) for w in kernels]))


PENALTIES = {
    "none": no_penalty,
    "wgan_gp": wgan_gp_penalty,
    "dragan": dragan_penalty,
    "r1": r1_penalty,
    "l2": l2_penalty,
}

ALIASES = {None: "none", "gp": "wgan_gp", "wgangp": "wgan_gp", "wgan-gp": "wgan_gp"}

# Penalties that differentiate D with respect to its input (they need second-order gradients).
GRADIENT_PENALTIES = ("wgan_gp", "dragan", "r1")


def penalty_name(name):
    key = name if name is None else str(name).lower()
    key = ALIASES.get(key, key)
    if key not in PENALTIES:
        close = difflib.get_close_matches(str(key), PENALTIES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown penalty {name!r}; valid choices: {', '.join(PENALTIES)}.{hint}"
        )
    return key


def get_penalty(name):
    """The penalty function for a name; ValueError listing the valid names otherwise."""
    return PENALTIES[penalty_name(name)]
