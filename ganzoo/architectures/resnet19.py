"""ResNet19 for 128x128 images (the GAN Landscape's Tables 3-4; compare_gan v2 "resnet5")."""
import keras

from ganzoo.architectures.blocks import ResNetDiscriminator, ResNetGenerator


@keras.saving.register_keras_serializable(package="ganzoo")
class ResNet19Generator(ResNetGenerator):
    """z -> 4x4x512 -> five up-blocks (512, 256, 256, 128, 64) -> 128x128x3."""

    RESOLUTION = 128
    BASE_CHANNELS = 512
    BLOCK_CHANNELS = (512, 256, 256, 128, 64)


@keras.saving.register_keras_serializable(package="ganzoo")
class ResNet19Discriminator(ResNetDiscriminator):
    """Six down-blocks (64, 128, 256, 256, 512, 512), the first on the raw image."""

    RESOLUTION = 128
    BLOCKS = tuple((ch, "down") for ch in (64, 128, 256, 256, 512, 512))
