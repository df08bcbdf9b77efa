"""SNDCGAN (Miyato et al. 2018; the GAN Landscape's Table 2), any resolution divisible by 8."""
import keras
from keras import ops

from ganzoo.architectures.base import Discriminator, Generator, weight_init
from ganzoo.layers import SpectralNormalization, batch_norm
from ganzoo.layers.conditional import ConditionalBatchNorm
from ganzoo.layers.normalization import check_discriminator_normalization

# The paper's SNDCGAN discriminator offers only spectral norm or none (compare_gan asserts it).
SNDCGAN_D_NORMALIZATIONS = ("none", "spectral")


def _check_resolution(resolution):
    if int(resolution) < 8 or int(resolution) % 8:
        raise ValueError(
            f"SNDCGAN needs a resolution divisible by 8 (e.g. 32, 64, 128); got {resolution}."
        )


@keras.saving.register_keras_serializable(package="ganzoo")
class SNDCGANGenerator(Generator):
    def __init__(self, resolution=32, z_dim=128, **kwargs):
        _check_resolution(resolution)
        super().__init__(resolution=resolution, z_dim=z_dim, **kwargs)
        self.base = self.resolution // 8
        init = weight_init()
        bn = lambda name: batch_norm(momentum=0.9, epsilon=2e-5, name=name)  # noqa: E731
        if self.num_classes:  # conditional: every batch norm takes the class
            size, shared = self.class_embedding or self.num_classes, bool(self.class_embedding)
            bn = lambda name: ConditionalBatchNorm(size, shared, momentum=0.9, epsilon=2e-5, name=name)  # noqa: E731
        self.fc = keras.layers.Dense(self.base * self.base * 512, kernel_initializer=init, name="fc")
        # Batch norm over the flat s*s*512 features (per feature, not per channel), as the paper.
        self.fc_bn = bn("fc_bn")
        self.deconvs = []
        self.deconv_bns = []
        for i, channels in enumerate((256, 128, 64)):
            self.deconvs.append(
                keras.layers.Conv2DTranspose(
                    channels, 4, strides=2, padding="same", kernel_initializer=init,
                    name=f"deconv{i + 1}",
                )
            )
            self.deconv_bns.append(bn(f"deconv{i + 1}_bn"))
        self.to_rgb = keras.layers.Conv2DTranspose(
            3, 3, strides=1, padding="same", kernel_initializer=init, name="to_rgb"
        )
        self.build()

    def call(self, z, training=False, labels=None):
        if self.num_classes:
            condition = self.class_condition(labels)
            norm = lambda bn, x: bn(x, condition, training=training)  # noqa: E731
        else:
            norm = lambda bn, x: bn(x, training=training)  # noqa: E731
        x = ops.relu(norm(self.fc_bn, self.fc(z)))
        x = ops.reshape(x, (-1, self.base, self.base, 512))
        for deconv, bn in zip(self.deconvs, self.deconv_bns):
            x = ops.relu(norm(bn, deconv(x)))
        x = ops.tanh(self.to_rgb(x))
        return (x + 1.0) / 2.0


@keras.saving.register_keras_serializable(package="ganzoo")
class SNDCGANDiscriminator(Discriminator):
    def __init__(self, resolution=32, normalization="spectral", **kwargs):
        _check_resolution(resolution)
        check_discriminator_normalization(normalization)
        if normalization not in SNDCGAN_D_NORMALIZATIONS:
            raise ValueError(
                f"The paper's SNDCGAN discriminator supports normalization 'none' or "
                f"'spectral' only (compare_gan rejects {normalization!r}); use one of those, "
                "or a ResNet architecture for batch/layer norm."
            )
        super().__init__(resolution=resolution, normalization=normalization, **kwargs)
        init = weight_init()
        use_sn = normalization == "spectral"
        wrap = (lambda layer: SpectralNormalization(layer, name=layer.name + "_sn")) if use_sn else (lambda layer: layer)  # noqa: E731
        self.convs = [
            wrap(keras.layers.Conv2D(ch, k, strides=s, padding="same", kernel_initializer=init, name=f"conv{i}"))
            for i, (k, s, ch) in enumerate(
                [(3, 1, 64), (4, 2, 128), (3, 1, 128), (4, 2, 256), (3, 1, 256), (4, 2, 512), (3, 1, 512)]
            )
        ]
        self.fc = wrap(keras.layers.Dense(1, kernel_initializer=init, name="fc"))
        self.build()

    def call(self, images, training=False, labels=None, return_features=False):
        x = images * 2.0 - 1.0  # the paper's D sees [-1, 1]
        for conv in self.convs:
            x = ops.leaky_relu(conv(x, training=training), negative_slope=0.1)
        x = ops.reshape(x, (ops.shape(x)[0], -1))
        return self.head(x, self.fc, training, labels, return_features)
