"""The networks and optimiser of GAN-train / GAN-test's classifier recipes
(ganzoo.metrics.gan_train_test.CLASSIFIER_RECIPES): images in [0, 1] (NHWC) -> logits.

- resnet(): ResNet-(6n+2) for CIFAR (He et al. 2016, section 4.2).
- airbench(): Keller Jordan's airbench94 (2024, "94% on CIFAR-10 in 3.29 seconds on a single
  GPU"; github.com/KellerJordan/cifar10-airbench, airbench/lib_airbench94.py and utils.py) in
  Keras: a frozen 2x2 patch-whitening convolution, three conv-pool-BN-GELU groups, max pooling, a
  dense layer scaled by 1/9; trained by AirbenchSGD (below) on the TriangularSchedule; evaluated on
  six views (with_test_time_augmentation). It reaches airbench's accuracy in a tenth of the epochs
  of the ResNet recipe, which is what makes GAN-train affordable on a CPU.

The layers and the optimiser are registered Keras objects (package "ganzoo"): a saved classifier
loads with ganzoo imported, as every ganzoo model does.
"""
import numpy as np

import keras
from keras import ops

# airbench's normalisation (the CIFAR10 channel means and deviations). Other data sets keep it: the
# whitening layer adapts to the data it is built from.
AIRBENCH_MEAN = (0.4914, 0.4822, 0.4465)
AIRBENCH_STD = (0.2470, 0.2435, 0.2616)
WHITENING_IMAGES = 5000  # airbench's: the whitening is estimated on the first 5,000 training images
WHITEN_BIAS = "whiten_bias"  # the layer whose bias airbench trains for its first epochs only


def resnet(num_classes, resolution, depth, seed, weight_decay):
    """ResNet-(6n+2) for CIFAR: 16/32/64 channels, 1x1 projection shortcuts when the shape changes
    (the Keras CIFAR ResNet example's v1), batch-norm momentum 0.9 (PyTorch's 0.1), the coupled
    weight decay as an L2 term wd/2 |w|^2 on every conv and dense kernel (its gradient is wd * w:
    PyTorch's SGD(weight_decay=wd) on those kernels)."""
    if (depth - 2) % 6 or depth < 8:
        raise ValueError(f"depth must be 6n + 2 (8, 14, 20, 32, ...); got {depth}.")
    keras.utils.set_random_seed(int(seed))
    blocks = (depth - 2) // 6
    decay = keras.regularizers.L2(weight_decay / 2) if weight_decay else None

    def conv(x, channels, kernel=3, strides=1):
        return keras.layers.Conv2D(channels, kernel, strides=strides, padding="same",
                                   kernel_initializer="he_normal", kernel_regularizer=decay)(x)

    def bn_relu(x, relu=True):
        x = keras.layers.BatchNormalization(momentum=0.9)(x)  # PyTorch's 0.1: settles in fewer steps
        return keras.layers.ReLU()(x) if relu else x

    inputs = keras.Input((resolution, resolution, 3))
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)  # [0, 1] -> [-1, 1]
    x = bn_relu(conv(x, 16))
    for stage, channels in enumerate((16, 32, 64)):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            y = bn_relu(conv(x, channels, strides=strides))
            y = bn_relu(conv(y, channels), relu=False)
            if strides != 1 or x.shape[-1] != channels:
                x = conv(x, channels, kernel=1, strides=strides)
            x = keras.layers.ReLU()(keras.layers.Add()([x, y]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, kernel_initializer="he_normal", kernel_regularizer=decay)(x)
    return keras.Model(inputs, outputs, name=f"resnet{depth}_classifier")


@keras.saving.register_keras_serializable(package="ganzoo")
class ChannelBias(keras.layers.Layer):
    """A trainable bias per channel (airbench's whitening convolution has a frozen kernel and a
    trained bias: Keras freezes a layer's variables together, so the bias is its own layer)."""

    def __init__(self, regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.regularizer = keras.regularizers.get(regularizer)

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(input_shape[-1],), initializer="zeros", regularizer=self.regularizer,
                                    name="bias")

    def call(self, inputs):
        return inputs + ops.cast(self.bias, inputs.dtype)

    def get_config(self):
        return dict(super().get_config(), regularizer=keras.regularizers.serialize(self.regularizer))


@keras.saving.register_keras_serializable(package="ganzoo")
class HorizontalFlip(keras.layers.Layer):
    """Mirror images left-right, always (keras.layers.RandomFlip is random and off at inference)."""

    def call(self, inputs):
        return ops.flip(inputs, axis=2)


@keras.saving.register_keras_serializable(package="ganzoo")
class ReflectCrop(keras.layers.Layer):
    """Pad `pad` pixels by reflection (PyTorch's F.pad(mode="reflect"), the edge not repeated) and
    crop the input's size at (top, left) of the padded image: a shift by (pad - top, pad - left)."""

    def __init__(self, pad=1, top=0, left=0, **kwargs):
        super().__init__(**kwargs)
        self.pad, self.top, self.left = int(pad), int(top), int(left)

    def call(self, inputs):
        height, width = inputs.shape[1], inputs.shape[2]
        padded = ops.pad(inputs, [[0, 0], [self.pad, self.pad], [self.pad, self.pad], [0, 0]], mode="reflect")
        return padded[:, self.top : self.top + height, self.left : self.left + width, :]

    def get_config(self):
        return dict(super().get_config(), pad=self.pad, top=self.top, left=self.left)


def whitening_kernel(images, eps=5e-4):
    """airbench's init_whitening_conv: the eigenvectors of the covariance of the 2x2 patches of
    `images` (normalised), each divided by the square root of its eigenvalue + eps, in decreasing
    order of eigenvalue, then their negatives: a (2, 2, 3, 24) Keras kernel."""
    x = (np.asarray(images[:WHITENING_IMAGES], dtype="float64") - AIRBENCH_MEAN) / AIRBENCH_STD
    height, width = x.shape[1] - 1, x.shape[2] - 1
    patches = np.stack([x[:, i : i + height, j : j + width] for i in (0, 1) for j in (0, 1)], axis=3)
    patches = patches.reshape(-1, 12)  # (row, column, channel) order, as the Keras kernel's
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    kernel = (eigenvectors / np.sqrt(eigenvalues + eps)).reshape(2, 2, 3, 12)
    return np.concatenate([kernel, -kernel], axis=-1).astype("float32")


def _dirac(layer):
    """torch.nn.init.dirac_(w[:w.size(1)]): the first in-channels filters pass their channel
    through unchanged; the others keep their random init."""
    kernel = layer.get_weights()[0]
    channels = min(kernel.shape[2], kernel.shape[3])
    kernel[..., :channels] = 0.0
    kernel[kernel.shape[0] // 2, kernel.shape[1] // 2, np.arange(channels), np.arange(channels)] = 1.0
    layer.set_weights([kernel])


def airbench(num_classes, resolution, seed, images, widths=(64, 256, 256), weight_decay=0.0153 / 11.5,
             bias_decay_divisor=64.0, batch_norm_momentum=0.6, logit_scale=1 / 9):
    """airbench94's network, its whitening layer estimated from `images` (in [0, 1]; the first
    5,000). weight_decay: the coupled L2 coefficient c (gradient c * w) of the kernels and the
    whitening bias; the batch-norm offsets get c / bias_decay_divisor, because their learning rate
    is that many times larger (AirbenchSGD), so that every decay step is the same size, as
    airbench's param groups make it. PyTorch's default init (uniform, bound 1 / sqrt(fan_in)),
    Dirac init of the convolutions' first filters, batch norm without scale (airbench freezes
    it at 1), GELU."""
    if resolution < 16:
        raise ValueError(f"the airbench classifier needs images of at least 16x16 (its three 2x2 poolings after "
                         f"the 2x2 whitening); got {resolution}x{resolution}. Use the resnet recipe.")
    keras.utils.set_random_seed(int(seed))
    decay = keras.regularizers.L2(weight_decay / 2)
    offset_decay = keras.regularizers.L2(weight_decay / 2 / bias_decay_divisor)
    torch_init = keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform")

    def conv(x, channels):
        return keras.layers.Conv2D(channels, 3, padding="same", use_bias=False, kernel_initializer=torch_init,
                                   kernel_regularizer=decay)(x)

    def norm_gelu(x):
        x = keras.layers.BatchNormalization(momentum=batch_norm_momentum, epsilon=1e-12, scale=False,
                                            beta_regularizer=offset_decay)(x)
        return keras.layers.Activation("gelu")(x)

    inputs = keras.Input((resolution, resolution, 3))
    x = keras.layers.Normalization(mean=AIRBENCH_MEAN, variance=np.square(AIRBENCH_STD))(inputs)
    whiten = keras.layers.Conv2D(24, 2, padding="valid", use_bias=False, trainable=False, name="whiten")
    x = keras.layers.Activation("gelu")(ChannelBias(decay, name=WHITEN_BIAS)(whiten(x)))
    for channels in widths:
        x = norm_gelu(keras.layers.MaxPooling2D(2)(conv(x, channels)))
        x = norm_gelu(conv(x, channels))
    x = keras.layers.GlobalMaxPooling2D()(x)  # airbench's MaxPool2d(3) over the last 3x3 map
    x = keras.layers.Dense(num_classes, use_bias=False, kernel_initializer=torch_init, kernel_regularizer=decay)(x)
    net = keras.Model(inputs, keras.layers.Rescaling(logit_scale)(x), name="airbench_classifier")
    whiten.set_weights([whitening_kernel(images)])
    for layer in net.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer is not whiten:
            _dirac(layer)
    return net


def with_test_time_augmentation(net):
    """airbench's tta_level 2 as one Keras model: the mean of the logits of the image and its
    mirror, averaged with the same mean over the image shifted by one pixel up-left and down-right
    (reflect padding). Six forward passes of `net`, whose weights it shares."""
    inputs = keras.Input(net.inputs[0].shape[1:])

    def mirrored(x):
        return keras.layers.Average()([net(x), net(HorizontalFlip()(x))])

    shifted = keras.layers.Average()([mirrored(ReflectCrop(1, 0, 0)(inputs)), mirrored(ReflectCrop(1, 2, 2)(inputs))])
    outputs = keras.layers.Average()([mirrored(inputs), shifted])
    return keras.Model(inputs, outputs, name=f"{net.name}_tta")


@keras.saving.register_keras_serializable(package="ganzoo")
class TriangularSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """airbench's learning rate: from start * peak up to peak over the first `warmup` of the steps,
    then linearly down to end * peak at the last step."""

    def __init__(self, peak, total_steps, warmup=0.23, start=0.2, end=0.07):
        self.peak, self.total_steps = float(peak), int(total_steps)
        self.warmup, self.start, self.end = float(warmup), float(start), float(end)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warm = float(max(1, int(self.total_steps * self.warmup)))
        rising = self.start + (1.0 - self.start) * step / warm
        falling = 1.0 + (self.end - 1.0) * (step - warm) / max(1.0, self.total_steps - warm)
        return self.peak * ops.where(step < warm, rising, falling)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup": self.warmup, "start": self.start,
                "end": self.end}


@keras.saving.register_keras_serializable(package="ganzoo")
class AirbenchSGD(keras.optimizers.SGD):
    """SGD (Nesterov) with airbench's three additions, its state all in optimiser variables so that
    Keras' BackupAndRestore resumes it exactly:

    - offset_lr_multiplier: the learning rate of batch-norm offsets (variables named beta) is
      this many times the others' (airbench's bias_scaler);
    - frozen_after: {layer name: steps}: that layer's variables stop changing after so many
      steps (airbench trains the whitening bias for its first epochs only);
    - lookahead_every: every that many steps, the weights and their running copy both become
      d * copy + (1 - d) * weights, d = 0.95^5 (t / total_steps)^3, and the copy is the model at the
      end (airbench's LookaheadState, built on Keras' EMA; airbench averages the batch-norm
      statistics too, Keras' EMA covers trainable variables only)."""

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, offset_lr_multiplier=1.0,
                 frozen_after=None, lookahead_every=0, total_steps=1, **kwargs):
        kwargs.pop("use_ema", None), kwargs.pop("ema_overwrite_frequency", None)
        lookahead = int(lookahead_every or 0) > 0
        super().__init__(learning_rate=learning_rate, momentum=momentum, nesterov=nesterov, use_ema=lookahead,
                         ema_overwrite_frequency=int(lookahead_every) if lookahead else None, **kwargs)
        self.offset_lr_multiplier = float(offset_lr_multiplier)
        self.frozen_after = {str(k): int(v) for k, v in (frozen_after or {}).items()}
        self.lookahead_every, self.total_steps = int(lookahead_every or 0), int(total_steps)

    def build(self, variables):
        super().build(variables)
        self._multipliers = [self.offset_lr_multiplier if v.path.split("/")[-1] == "beta" else 1.0
                             for v in variables]
        self._frozen_at = [self.frozen_after.get(v.path.split("/")[0]) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        if self.use_ema:  # airbench's copy starts as the initial weights (Keras' as zeros; build may run traced)
            average = self._model_variables_moving_average[index]
            average.assign(ops.where(ops.equal(self.iterations, 0), ops.convert_to_tensor(variable),
                                     ops.convert_to_tensor(average)))
        if self._multipliers[index] != 1.0:
            learning_rate = ops.multiply(learning_rate, self._multipliers[index])
        frozen_at = self._frozen_at[index]
        if frozen_at is None:
            return super().update_step(gradient, variable, learning_rate)
        before = ops.copy(ops.convert_to_tensor(variable))
        super().update_step(gradient, variable, learning_rate)
        variable.assign(ops.where(ops.less(self.iterations, frozen_at), ops.convert_to_tensor(variable), before))

    def _update_model_variables_moving_average(self, trainable_variables):
        step = ops.add(self.iterations, 1)  # this update's number, 1-based (airbench's current_steps)
        sync = ops.equal(ops.mod(step, self.lookahead_every), 0)
        decay = 0.95**5 * ops.power(ops.divide(ops.cast(step, "float32"), float(self.total_steps)), 3.0)
        for variable, average in zip(trainable_variables, self._model_variables_moving_average):
            if average is None:
                continue
            d = ops.cast(decay, variable.dtype)
            current, value = ops.convert_to_tensor(average), ops.convert_to_tensor(variable)
            average.assign(ops.where(sync, ops.add(ops.multiply(d, current), ops.multiply(1.0 - d, value)), current))

    def get_config(self):
        config = super().get_config()
        for key in ("use_ema", "ema_overwrite_frequency", "ema_momentum"):
            config.pop(key, None)
        return dict(config, offset_lr_multiplier=self.offset_lr_multiplier, frozen_after=self.frozen_after,
                    lookahead_every=self.lookahead_every, total_steps=self.total_steps)


CUSTOM_OBJECTS = {cls.__name__: cls for cls in (ChannelBias, HorizontalFlip, ReflectCrop, TriangularSchedule, AirbenchSGD)}
