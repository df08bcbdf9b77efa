"""Building blocks: spectral norm, zero-insertion upsampling, the paper's normalisations."""
from ganzoo.layers.normalization import (
    DISCRIMINATOR_NORMALIZATIONS,
    batch_norm,
    layer_norm,
    make_feature_norm,
)
from ganzoo.layers.resampling import Unpool
from ganzoo.layers.spectral_norm import SpectralNormalization

__all__ = [
    "DISCRIMINATOR_NORMALIZATIONS",
    "SpectralNormalization",
    "Unpool",
    "batch_norm",
    "layer_norm",
    "make_feature_norm",
]
