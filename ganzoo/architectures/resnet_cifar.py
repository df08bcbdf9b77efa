"""ResNet-CIFAR for 32x32 images (the SNGAN paper's CIFAR10 ResNet, as used in the GAN Landscape)."""
import keras

from ganzoo.architectures.blocks import ResNetDiscriminator, ResNetGenerator


@keras.saving.register_keras_serializable(package="ganzoo")
class ResNetCIFARGenerator(ResNetGenerator):
    """z -> 4x4x256 -> three 256-channel up-blocks -> 32x32x3."""

    RESOLUTION = 32
    BASE_CHANNELS = 256
    BLOCK_CHANNELS = (256, 256, 256)


@keras.saving.register_keras_serializable(package="ganzoo")
class ResNetCIFARDiscriminator(ResNetDiscriminator):
    """Four 128-channel blocks: the first two downsample, the last two keep 8x8."""

    RESOLUTION = 32
    BLOCKS = ((128, "down"), (128, "down"), (128, "none"), (128, "none"))
