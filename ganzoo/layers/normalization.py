"""Normalisation layers with the paper's settings."""
import keras

# Names accepted for the discriminator's normalisation.
DISCRIMINATOR_NORMALIZATIONS = ("none", "batch", "layer", "spectral", "spectral_layer")


def batch_norm(momentum=0.9, epsilon=1e-5, name=None, axis=-1):
    """Batch norm with compare_gan's decay 0.9 (Keras' default momentum is 0.99)."""
    return keras.layers.BatchNormalization(
        axis=axis, momentum=momentum, epsilon=epsilon, center=True, scale=True, name=name
    )


def layer_norm(name=None):
    """The paper's layer norm: statistics over H, W and C together, per-channel gamma/beta.

    GroupNormalization with one group is exactly that (Keras LayerNormalization with its
    defaults normalises over C only). epsilon 1e-12 as compare_gan's ops.layer_norm.
    """
    return keras.layers.GroupNormalization(groups=1, epsilon=1e-12, name=name)


def check_discriminator_normalization(normalization):
    if normalization not in DISCRIMINATOR_NORMALIZATIONS:
        raise ValueError(
            f"Unknown discriminator normalization {normalization!r}; valid choices: "
            f"{', '.join(DISCRIMINATOR_NORMALIZATIONS)}."
        )
    return normalization


def uses_spectral_norm(normalization):
    return normalization in ("spectral", "spectral_layer")


def make_feature_norm(normalization, name=None):
    """The activation normalisation layer for a D normalisation name, or None."""
    check_discriminator_normalization(normalization)
    if normalization == "batch":
        return batch_norm(name=name)
    if normalization in ("layer", "spectral_layer"):
        return layer_norm(name=name)
    return None
