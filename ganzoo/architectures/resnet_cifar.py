"""ResNet-CIFAR for 32x32 images (the SNGAN paper's CIFAR10 ResNet, as used in the GAN Landscape)."""
import keras
from keras import ops

from ganzoo.architectures.base import Discriminator, Generator, weight_init
from ganzoo.architectures.blocks import ResNetBlock
from ganzoo.layers import SpectralNormalization, batch_norm
from ganzoo.layers.normalization import check_discriminator_normalization, uses_spectral_norm


def _check_resolution(resolution):
    if int(resolution) != 32:
        raise ValueError(f"ResNet-CIFAR is defined for 32x32 images; got resolution {resolution}.")


@keras.saving.register_keras_serializable(package="ganzoo")
class ResNetCIFARGenerator(Generator):
    def __init__(self, resolution=32, z_dim=128, **kwargs):
        _check_resolution(resolution)
        super().__init__(resolution=resolution, z_dim=z_dim, **kwargs)
        self.fc = keras.layers.Dense(4 * 4 * 256, kernel_initializer=weight_init(), name="fc")
        self.blocks = [
            ResNetBlock(256, "up", generator_block=True, name=f"block{i + 1}") for i in range(3)
        ]
        self.final_bn = batch_norm(name="final_bn")
        self.to_rgb = keras.layers.Conv2D(
            3, 3, padding="same", kernel_initializer=weight_init(truncated=True), name="to_rgb"
        )
        self.build()

    def call(self, z, training=False):
        x = ops.reshape(self.fc(z), (-1, 4, 4, 256))
        for block in self.blocks:
            x = block(x, training=training)
        x = ops.relu(self.final_bn(x, training=training))
        return ops.sigmoid(self.to_rgb(x))


@keras.saving.register_keras_serializable(package="ganzoo")
class ResNetCIFARDiscriminator(Discriminator):
    def __init__(self, resolution=32, normalization="spectral", **kwargs):
        _check_resolution(resolution)
        check_discriminator_normalization(normalization)
        super().__init__(resolution=resolution, normalization=normalization, **kwargs)
        self.blocks = [
            ResNetBlock(
                128, "down" if i < 2 else "none", generator_block=False,
                normalization=normalization, name=f"block{i}",
            )
            for i in range(4)
        ]
        fc = keras.layers.Dense(1, kernel_initializer=weight_init(), name="fc")
        self.fc = SpectralNormalization(fc, name="fc_sn") if uses_spectral_norm(normalization) else fc
        self.build()

    def call(self, images, training=False):
        x = images
        for block in self.blocks:
            x = block(x, training=training)
        x = ops.mean(ops.relu(x), axis=(1, 2))
        return self.fc(x, training=training)
