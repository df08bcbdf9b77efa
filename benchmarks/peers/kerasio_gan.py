"""The keras.io-style TensorFlow peer: the implementation a user writes from keras.io's DCGAN example.

Self-contained (does not import ganzoo); needs KERAS_BACKEND=tensorflow. It follows keras.io's
"DCGAN to generate face images" (the "overriding train_step" pattern): a keras.Model subclass
holding a generator and a discriminator built with the functional API, a compile() taking the two
optimizers and the loss, and a train_step with one tf.GradientTape for the discriminator (real
and generated images concatenated into one batch, the generator run outside the tape) and one for
the generator, each followed by optimizer.apply_gradients; trained with model.fit. The
discriminator's layers are wrapped in keras.layers.SpectralNormalization, Keras' own tool.

Differences from keras.io's example, each needed to make it the same GAN as the benchmark's:
the SNDCGAN / ResNet-CIFAR models of the paper (not keras.io's small DCGAN), z ~ U(-1, 1), the
NS loss without keras.io's label noise, `training=True` passed to both sub-models (without it,
Keras 3 runs batch norm and SpectralNormalization in inference mode inside a custom train_step),
Adam with the paper's epsilon 1e-8, and an optional WGAN-GP penalty with a nested tape.
"""
import keras
import tensorflow as tf
from keras import layers, ops

Z_DIM = 128
_INIT = keras.initializers.RandomNormal(0.0, 0.02)


def _sn(layer):
    return layers.SpectralNormalization(layer)


def _conv(filters, kernel, strides=1):
    return layers.Conv2D(filters, kernel, strides, padding="same", kernel_initializer=_INIT)


def _bn(epsilon):
    return layers.BatchNormalization(momentum=0.9, epsilon=epsilon)


def sndcgan_generator(resolution=32):
    s = resolution // 8
    z = keras.Input((Z_DIM,))
    x = layers.Dense(s * s * 512, kernel_initializer=_INIT)(z)
    x = layers.ReLU()(_bn(2e-5)(x))  # batch norm per flat feature, as compare_gan
    x = layers.Reshape((s, s, 512))(x)
    for filters in (256, 128, 64):
        x = layers.Conv2DTranspose(filters, 4, 2, padding="same", kernel_initializer=_INIT)(x)
        x = layers.ReLU()(_bn(2e-5)(x))
    x = _conv(3, 3)(x)
    x = layers.Rescaling(0.5, offset=0.5)(layers.Activation("tanh")(x))
    return keras.Model(z, x, name="generator")


def sndcgan_discriminator(resolution=32):
    image = keras.Input((resolution, resolution, 3))
    x = layers.Rescaling(2.0, offset=-1.0)(image)
    for kernel, strides, filters in ((3, 1, 64), (4, 2, 128), (3, 1, 128), (4, 2, 256),
                                     (3, 1, 256), (4, 2, 512), (3, 1, 512)):
        x = layers.LeakyReLU(negative_slope=0.1)(_sn(_conv(filters, kernel, strides))(x))
    x = _sn(layers.Dense(1, kernel_initializer=_INIT))(layers.Flatten()(x))
    return keras.Model(image, x, name="discriminator")


def unpool(x):
    """Zero insertion: [[1, 2], [3, 4]] -> 1 0 2 0 / 0 0 0 0 / 3 0 4 0 / 0 0 0 0 (NHWC)."""
    n, h, w, c = ops.shape(x)
    x = ops.reshape(ops.stack([x, ops.zeros_like(x)], axis=3), (n, h, 2 * w, c))
    return ops.reshape(ops.stack([x, ops.zeros_like(x)], axis=2), (n, 2 * h, 2 * w, c))


def resnet_cifar_generator():
    z = keras.Input((Z_DIM,))
    x = layers.Reshape((4, 4, 256))(layers.Dense(4 * 4 * 256, kernel_initializer=_INIT)(z))
    for _ in range(3):
        h = layers.Lambda(unpool)(layers.ReLU()(_bn(1e-5)(x)))
        h = _conv(256, 3)(h)
        h = _conv(256, 3)(layers.ReLU()(_bn(1e-5)(h)))
        x = layers.Add()([h, _conv(256, 3)(layers.Lambda(unpool)(x))])
    x = _conv(3, 3)(layers.ReLU()(_bn(1e-5)(x)))
    return keras.Model(z, layers.Activation("sigmoid")(x), name="generator")


def resnet_cifar_discriminator():
    image = keras.Input((32, 32, 3))
    x = layers.Rescaling(2.0, offset=-1.0)(image)
    for i, down in enumerate((True, True, False, False)):
        h = x if i == 0 else layers.ReLU()(x)
        h = _sn(_conv(128, 3))(layers.ReLU()(_sn(_conv(128, 3))(h)))
        s = _sn(_conv(128, 3))(x)
        if down:
            h, s = layers.AveragePooling2D(2)(h), layers.AveragePooling2D(2)(s)
        x = layers.Add()([h, s])
    x = layers.GlobalAveragePooling2D()(layers.ReLU()(x))
    return keras.Model(image, _sn(layers.Dense(1, kernel_initializer=_INIT))(x),
                       name="discriminator")


def build_models(architecture, resolution=32):
    if architecture == "sndcgan":
        return sndcgan_generator(resolution), sndcgan_discriminator(resolution)
    if architecture == "resnet_cifar":
        return resnet_cifar_generator(), resnet_cifar_discriminator()
    raise ValueError(f"unknown architecture {architecture!r}; valid: sndcgan, resnet_cifar")


def count_params(model):
    return sum(int(ops.size(w)) for w in model.trainable_weights)


class GAN(keras.Model):
    def __init__(self, discriminator, generator, disc_iters=1, penalty_weight=0.0):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.disc_iters = disc_iters
        self.penalty_weight = penalty_weight
        self.seed_generator = keras.random.SeedGenerator(1337)

    def compile(self, d_optimizer, g_optimizer, loss_fn, **kwargs):
        super().compile(**kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn
        self.d_loss_metric = keras.metrics.Mean(name="d_loss")
        self.g_loss_metric = keras.metrics.Mean(name="g_loss")

    @property
    def metrics(self):
        return [self.d_loss_metric, self.g_loss_metric]

    def _latent(self, batch_size):
        return keras.random.uniform((batch_size, Z_DIM), -1.0, 1.0, seed=self.seed_generator)

    def _gradient_penalty(self, real_images, generated_images):
        batch_size = ops.shape(real_images)[0]
        alpha = keras.random.uniform((batch_size, 1, 1, 1), seed=self.seed_generator)
        interpolated = real_images + alpha * (generated_images - real_images)
        with tf.GradientTape() as gp_tape:
            gp_tape.watch(interpolated)
            predictions = self.discriminator(interpolated, training=True)
        grads = gp_tape.gradient(predictions, interpolated)
        slopes = ops.sqrt(1e-4 + ops.sum(ops.square(grads), axis=(1, 2, 3)))
        return ops.mean(ops.square(slopes - 1.0))

    def _train_discriminator(self, real_images):
        batch_size = ops.shape(real_images)[0]
        generated_images = self.generator(self._latent(batch_size), training=True)
        combined_images = ops.concatenate([generated_images, real_images], axis=0)
        labels = ops.concatenate(
            [ops.zeros((batch_size, 1)), ops.ones((batch_size, 1))], axis=0)
        with tf.GradientTape() as tape:
            predictions = self.discriminator(combined_images, training=True)
            # NS loss: CE(D(x), 1) + CE(D(G(z)), 0); loss_fn averages over both halves.
            d_loss = 2.0 * self.loss_fn(labels, predictions)
            if self.penalty_weight:
                d_loss += self.penalty_weight * self._gradient_penalty(
                    real_images, generated_images)
        grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
        return d_loss

    def train_step(self, real_images):
        batch_size = ops.shape(real_images)[0] // self.disc_iters
        for i in range(self.disc_iters):
            d_loss = self._train_discriminator(
                real_images[i * batch_size:(i + 1) * batch_size])

        misleading_labels = ops.ones((batch_size, 1))
        with tf.GradientTape() as tape:
            predictions = self.discriminator(
                self.generator(self._latent(batch_size), training=True), training=True)
            g_loss = self.loss_fn(misleading_labels, predictions)
        grads = tape.gradient(g_loss, self.generator.trainable_weights)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))

        self.d_loss_metric.update_state(d_loss)
        self.g_loss_metric.update_state(g_loss)
        return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}


def build_gan(architecture="sndcgan", disc_iters=1, penalty_weight=0.0, lr=2e-4, beta1=0.5,
              beta2=0.999, **compile_kwargs):
    generator, discriminator = build_models(architecture)
    gan = GAN(discriminator, generator, disc_iters, penalty_weight)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(lr, beta1, beta2, epsilon=1e-8),
        g_optimizer=keras.optimizers.Adam(lr, beta1, beta2, epsilon=1e-8),
        loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
        **compile_kwargs)
    return gan
