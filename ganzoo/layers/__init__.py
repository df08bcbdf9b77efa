"""Building blocks: spectral norm, zero-insertion upsampling, the paper's normalisations, the
minibatch layers of D (minibatch standard deviation, minibatch discrimination), SAGAN's
self-attention block."""
from ganzoo.layers.attention import SelfAttention
from ganzoo.layers.minibatch import MinibatchDiscrimination, MinibatchStdDev
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
    "MinibatchDiscrimination",
    "MinibatchStdDev",
    "SelfAttention",
    "SpectralNormalization",
    "Unpool",
    "batch_norm",
    "layer_norm",
    "make_feature_norm",
]
