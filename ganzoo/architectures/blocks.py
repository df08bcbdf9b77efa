"""The paper's ResNets (compare_gan v2 resnet_architecture): the residual block and the
generator/discriminator skeletons that ResNet19 and ResNet-CIFAR fill with their channel plans."""
import keras
from keras import ops

from ganzoo.architectures.base import Discriminator, Generator, weight_init
from ganzoo.layers import SelfAttention, SpectralNormalization, Unpool, batch_norm, make_feature_norm
from ganzoo.layers.conditional import ConditionalBatchNorm
from ganzoo.layers.normalization import check_discriminator_normalization, uses_spectral_norm

SCALES = ("up", "down", "none")


class ResampledConv(keras.layers.Layer):
    """3x3 conv with the block's resampling: unpool before ("up") or avg-pool after ("down")."""

    def __init__(self, channels, scale, spectral_norm=False, **kwargs):
        super().__init__(**kwargs)
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}; got {scale!r}.")
        self.scale = scale
        conv = keras.layers.Conv2D(
            channels, 3, padding="same", kernel_initializer=weight_init(truncated=True), name="conv"
        )
        self.conv = SpectralNormalization(conv, name="conv_sn") if spectral_norm else conv
        self.unpool = Unpool() if scale == "up" else None
        self.pool = (
            keras.layers.AveragePooling2D(2, strides=2, padding="same") if scale == "down" else None
        )

    def call(self, x, training=False):
        if self.unpool is not None:
            x = self.unpool(x)
        x = self.conv(x, training=training)
        if self.pool is not None:
            x = self.pool(x)
        return x


class ResNetBlock(keras.layers.Layer):
    """main: [norm] ReLU conv(scale1) [norm] ReLU conv(scale2); shortcut: conv(scale); sum.

    Generator blocks upsample in the first conv and use batch norm; discriminator blocks
    downsample after the second conv and use the discriminator's normalisation. The shortcut
    is always a 3x3 conv, also when the channel counts match, as in the paper's code.
    """

    def __init__(self, channels, scale, generator_block, normalization="none", condition=None, **kwargs):
        super().__init__(**kwargs)
        if generator_block:
            scale1, scale2 = scale, "none"
            # condition (a conditional generator's): (condition size, shared embedding?)
            norm = batch_norm if condition is None else (
                lambda name: ConditionalBatchNorm(condition[0], condition[1], name=name))  # noqa: E731
            self.norm1, self.norm2 = norm(name="bn1"), norm(name="bn2")
            use_sn = False
        else:
            scale1, scale2 = "none", scale
            self.norm1 = make_feature_norm(normalization, name="norm1")
            self.norm2 = make_feature_norm(normalization, name="norm2")
            use_sn = uses_spectral_norm(normalization)
        self.shortcut = ResampledConv(channels, scale, use_sn, name="shortcut")
        self.conv1 = ResampledConv(channels, scale1, use_sn, name="conv1")
        self.conv2 = ResampledConv(channels, scale2, use_sn, name="conv2")

    @staticmethod
    def _norm(norm, x, training, condition=None):
        if norm is None:
            return x
        return norm(x, training=training) if condition is None else norm(x, condition, training=training)

    def call(self, x, training=False, condition=None):
        shortcut = self.shortcut(x, training=training)
        x = ops.relu(self._norm(self.norm1, x, training, condition))
        x = self.conv1(x, training=training)
        x = ops.relu(self._norm(self.norm2, x, training, condition))
        x = self.conv2(x, training=training)
        return x + shortcut


class ResNetGenerator(Generator):
    """The paper's ResNet generator: z -> linear 4x4xC0 -> up-blocks -> BN, ReLU -> conv3x3 ->
    sigmoid. Families set BASE_CHANNELS, BLOCK_CHANNELS (one up-block each) and RESOLUTION."""

    BASE_CHANNELS = None
    BLOCK_CHANNELS = ()
    RESOLUTION = None

    def __init__(self, resolution=None, z_dim=128, self_attention=0, **kwargs):
        resolution = self.RESOLUTION if resolution is None else resolution
        _check_family_resolution(type(self).__name__, resolution, self.RESOLUTION)
        super().__init__(resolution=resolution, z_dim=z_dim, **kwargs)
        self.self_attention, self.attention_after, self.attention = _place_attention(
            type(self).__name__, self_attention, self.block_sides(resolution), spectral_norm=False)
        self.fc = keras.layers.Dense(4 * 4 * self.BASE_CHANNELS, kernel_initializer=weight_init(), name="fc")
        # Conditional: the blocks' batch norms take the class (the final one stays plain, as in
        # Miyato & Koyama's and mimicry's SNGAN-projection generators).
        condition = ((self.class_embedding or self.num_classes, bool(self.class_embedding))
                     if self.num_classes else None)
        self.blocks = [
            ResNetBlock(ch, "up", generator_block=True, condition=condition, name=f"block{i + 1}")
            for i, ch in enumerate(self.BLOCK_CHANNELS)
        ]
        self.final_bn = batch_norm(name="final_bn")
        self.to_rgb = keras.layers.Conv2D(
            3, 3, padding="same", kernel_initializer=weight_init(truncated=True), name="to_rgb"
        )
        self.build()

    @classmethod
    def block_sides(cls, resolution=None):
        """The output side of each up-block (4x4 doubled by each): where self_attention may go."""
        return [4 * 2 ** (i + 1) for i in range(len(cls.BLOCK_CHANNELS))]

    def call(self, z, training=False, labels=None):
        condition = self.class_condition(labels) if self.num_classes else None
        x = ops.reshape(self.fc(z), (-1, 4, 4, self.BASE_CHANNELS))
        for i, block in enumerate(self.blocks):
            x = block(x, training=training, condition=condition)
            if i == self.attention_after:
                x = self.attention(x, training=training)
        x = ops.relu(self.final_bn(x, training=training))
        return ops.sigmoid(self.to_rgb(x))

    def get_config(self):
        config = super().get_config()
        if self.self_attention:  # only when on: configs without it stay as they were
            config["self_attention"] = self.self_attention
        return config


class ResNetDiscriminator(Discriminator):
    """The paper's ResNet discriminator: blocks -> ReLU -> global mean pool -> linear -> logit.
    Families set BLOCKS, a list of (channels, scale) and RESOLUTION."""

    BLOCKS = ()
    RESOLUTION = None

    def __init__(self, resolution=None, normalization="spectral", self_attention=0, **kwargs):
        resolution = self.RESOLUTION if resolution is None else resolution
        _check_family_resolution(type(self).__name__, resolution, self.RESOLUTION)
        check_discriminator_normalization(normalization)
        super().__init__(resolution=resolution, normalization=normalization, **kwargs)
        self.self_attention, self.attention_after, self.attention = _place_attention(
            type(self).__name__, self_attention, self.block_sides(resolution),
            spectral_norm=uses_spectral_norm(normalization))
        self.blocks = [
            ResNetBlock(ch, scale, generator_block=False, normalization=normalization, name=f"block{i}")
            for i, (ch, scale) in enumerate(self.BLOCKS)
        ]
        fc = keras.layers.Dense(1, kernel_initializer=weight_init(), name="fc")
        self.fc = SpectralNormalization(fc, name="fc_sn") if uses_spectral_norm(normalization) else fc
        self.build()

    @classmethod
    def block_sides(cls, resolution=None):
        """The output side of each block ("down" halves it): where self_attention may go."""
        sides, side = [], int(resolution or cls.RESOLUTION)
        for _, scale in cls.BLOCKS:
            side = side // 2 if scale == "down" else side
            sides.append(side)
        return sides

    def call(self, images, training=False, labels=None, return_features=False):
        x = images
        for i, block in enumerate(self.blocks):
            x = block(x, training=training)
            if i == self.attention_after:
                x = self.attention(x, training=training)
        x = ops.mean(ops.relu(x), axis=(1, 2))
        return self.head(x, self.fc, training, labels, return_features)

    def get_config(self):
        config = super().get_config()
        if self.self_attention:  # only when on: configs without it stay as they were
            config["self_attention"] = self.self_attention
        return config


def _place_attention(class_name, side, block_sides, spectral_norm):
    """SAGAN's self-attention after the first block whose output is side x side (0: none).
    Returns (side, index of that block or None, the SelfAttention layer or None)."""
    side = int(side or 0)
    if not side:
        return 0, None, None
    if side not in block_sides:
        raise ValueError(f"{class_name}: self_attention {side} must be the side of one of its blocks' "
                         f"outputs ({', '.join(str(s) for s in sorted(set(block_sides)))}), or 0 for none.")
    layer = SelfAttention(spectral_norm=spectral_norm, kernel_initializer=weight_init(), name="self_attention")
    return side, block_sides.index(side), layer


def _check_family_resolution(class_name, resolution, expected):
    if int(resolution) != expected:
        raise ValueError(
            f"{class_name} is defined for {expected}x{expected} images; got resolution {resolution}."
        )
