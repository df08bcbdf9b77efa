"""One training step of compare_gan v2 (the GAN Landscape paper's code), in PyTorch float64.

Written from google/compare_gan, branch v2 (compare_gan/src/gans/), NOT from ganzoo:

    abstract_gan.py         AbstractGAN.train, run_single_train_step     (the schedule)
    gans_with_penalty.py    AbstractGANWithPenalty.build_model           (losses, penalty,
                            wgangp_penalty, get_optimizer                  optimizers)
    ops.py                  spectral_norm, linear, conv2d, deconv2d, lrelu, layer_norm
    dcgan_architecture.py   sn_generator, sn_discriminator, batch_norm_dcgan
    resnet_architecture.py  resnet_cifar_generator/_discriminator, resnet_block, get_conv,
                            unpool, batch_norm_resnet

Everything runs eagerly in float64 on the CPU with torch.autograd (create_graph=True for the
gradient penalty, whose D gradient is second order). Tensors are NHWC, as in the TF code; the
conv helpers permute to torch's NCHW internally.

Weights are a dict name -> NumPy array, named after compare_gan's TF variables without ":0":
"generator/g_fc1/Matrix", "discriminator/B0/same_conv1/w", "generator/g_bn1/moving_mean", ...
The spectral-norm vector of a kernel "<scope>/w" (or "<scope>/Matrix") is "<scope>/w/u_var"
(in TF it is created as tf.get_variable(input_.name.replace(":", "") + "/u_var"), i.e. a longer
name under the same scope). Layouts are TF's: conv kernels (kh, kw, in, out), deconv kernels
(kh, kw, out, in), linear matrices (in, out), u (rows, 1).

Stateful semantics of one sess.run (a D update, or a G update), as TF1 executes the graph:
  * spectral norm: every D call of the run reads the stored u, does one power iteration and
    assigns its result; all calls of a run therefore compute the same u, which is what is stored
    after the run. (TF1 does not order the assigns against the other calls' reads; with ref
    variables a racing call could in principle read an already-updated u. We model the
    race-free reading, in which every call starts from the stored u.)
  * batch norm (updates_collections=None): every training-mode call assigns
    moving = moving - (moving - batch_stat) * (1 - decay) in place. Several calls in one run
    (D on real, on fake, on the penalty points) update the same moving statistics; TF does not
    order them. We apply them in graph-construction order: D(real), G(z), D(fake), D(penalty).
    G runs in training mode in the D update too (build_model's `generated`), so G's moving
    statistics move in both the D update and the G update; the G update's D(fake) call moves
    D's (batch-norm D).
  * batch/layer norm statistics come from tf.nn.moments, whose variance is
    mean((x - stop_gradient(mean))^2): first-order gradients are unchanged, second-order ones
    (a gradient penalty through a normalised D) lose a term. Config.moments_stop_gradient.
"""
import dataclasses
import math

import numpy as np
import torch
import torch.nn.functional as F

DTYPE = torch.float64


# ---------------------------------------------------------------------------------- config
@dataclasses.dataclass
class Config:
    """The parameters AbstractGANWithPenalty reads (gans_with_penalty.py __init__)."""

    architecture: str = "sndcgan"  # consts.SNDCGAN_ARCH ("sndcgan") or consts.RESNET_CIFAR
    resolution: int = 32  # output_height == output_width == input_height
    d_norm: str = "spectral"  # "spectral", "none", "batch_norm", "layer_norm"
    loss: str = "ns"  # model_name: GAN_PENALTY "ns", WGAN_PENALTY "wgan", LSGAN_PENALTY "ls"
    penalty: str = "none"  # "none" or "wgangp"
    lambd: float = 0.0  # parameters["lambda"]
    disc_iters: int = 1
    learning_rate: float = 2e-4  # one learning rate for both optimizers, as compare_gan
    beta1: float = 0.5
    beta2: float = 0.999
    z_dim: int = 128
    # tf.nn.moments computes variance = mean((x - stop_gradient(mean))^2). It does not change
    # first-order gradients but drops a term from second-order ones (gradient penalty through
    # batch/layer norm). True = TF's behaviour.
    moments_stop_gradient: bool = True

    def __post_init__(self):
        if self.architecture not in ("sndcgan", "resnet_cifar"):
            raise ValueError(f"architecture must be 'sndcgan' or 'resnet_cifar'; got {self.architecture!r}")
        if self.architecture == "sndcgan" and self.d_norm not in ("spectral", "none"):
            raise ValueError("sn_discriminator supports only spectral norm or none (gans_with_penalty.py asserts it)")
        if self.architecture == "resnet_cifar" and self.resolution != 32:
            raise ValueError("resnet_cifar_generator is 32x32")
        if self.d_norm not in ("spectral", "none", "batch_norm", "layer_norm"):
            raise ValueError(f"unknown d_norm {self.d_norm!r}")
        if self.loss not in ("ns", "wgan", "ls"):
            raise ValueError(f"unknown loss {self.loss!r}")
        if self.penalty not in ("none", "wgangp"):
            raise ValueError(f"unknown penalty {self.penalty!r}")


# ------------------------------------------------------------------- state of one sess.run
class Run:
    """Stored non-trainable state (u vectors, moving statistics) and the writes of one run."""

    def __init__(self, stored):
        self.stored = stored  # name -> float64 tensor, as before the run
        self.written = {}

    def spectral_u(self, name, u_new):
        # ops.spectral_norm: tf.assign(u_var, u) on every call.
        if name in self.written:
            if not torch.allclose(self.written[name], u_new, rtol=1e-12, atol=1e-15):
                raise AssertionError(f"{name}: two D calls of one run computed different u")
        self.written[name] = u_new.detach()

    def moving_average(self, name, value, decay):
        # moving_averages.assign_moving_average(variable, value, decay, zero_debias=False):
        # variable -= (variable - value) * (1 - decay).
        current = self.written.get(name, self.stored[name])
        self.written[name] = (current - (current - value.detach()) * (1.0 - decay)).detach()

    def commit(self):
        self.stored.update(self.written)


# ------------------------------------------------------------------------------ ops.py etc
def l2_normalize(x, epsilon=1e-12):
    """tf.nn.l2_normalize(x, axis=None, epsilon): x * rsqrt(max(sum(x^2), epsilon))."""
    return x * torch.rsqrt(torch.clamp(torch.sum(x * x), min=epsilon))


def spectral_norm(run, w, name):
    """ops.spectral_norm: W / sigma(W), one power iteration from the stored u."""
    matrix = w.reshape(-1, w.shape[-1])  # (kh*kw*c_in, c_out) for conv kernels
    u = run.stored[name + "/u_var"]
    v = l2_normalize(matrix.t() @ u)
    u = l2_normalize(matrix @ v)
    run.spectral_u(name + "/u_var", u)
    u, v = u.detach(), v.detach()  # tf.stop_gradient(u), tf.stop_gradient(v)
    sigma = u.t() @ matrix @ v  # (1, 1); the gradient flows through sigma via `matrix`
    return (matrix / sigma).reshape(w.shape)


def lrelu(x, leak=0.2):
    """ops.lrelu: tf.maximum(x, leak * x)."""
    return torch.maximum(x, leak * x)


def linear(p, run, x, scope, use_sn=False):
    """ops.linear: x @ Matrix + bias (Matrix spectrally normalised if use_sn)."""
    matrix = p[scope + "/Matrix"]
    if use_sn:
        matrix = spectral_norm(run, matrix, scope + "/Matrix")
    return x @ matrix + p[scope + "/bias"]


def _same_padding(size, kernel, stride):
    """TF 'SAME': output ceil(size / stride); total padding split with the extra at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2, total - total // 2


def conv2d(p, run, x, scope, stride=1, use_sn=False):
    """ops.conv2d: tf.nn.conv2d(x, w, strides, padding="SAME") + biases; w (kh, kw, in, out)."""
    w = p[scope + "/w"]
    if use_sn:
        w = spectral_norm(run, w, scope + "/w")
    kh, kw = w.shape[0], w.shape[1]
    _, ph0, ph1 = _same_padding(x.shape[1], kh, stride)
    _, pw0, pw1 = _same_padding(x.shape[2], kw, stride)
    y = F.pad(x.permute(0, 3, 1, 2), (pw0, pw1, ph0, ph1))
    y = F.conv2d(y, w.permute(3, 2, 0, 1), stride=stride)
    return y.permute(0, 2, 3, 1) + p[scope + "/biases"]


def deconv2d(p, x, scope, stride):
    """ops.deconv2d: tf.nn.conv2d_transpose(x, w, output_shape=in*stride, padding="SAME").

    conv2d_transpose is the adjoint of conv2d(SAME) with kernel w (kh, kw, out, in) on an input
    of the output's size: a full transposed convolution, then drop the SAME padding.
    """
    w = p[scope + "/w"]
    kh, kw = w.shape[0], w.shape[1]
    out_h, out_w = x.shape[1] * stride, x.shape[2] * stride
    _, ph0, _ = _same_padding(out_h, kh, stride)
    _, pw0, _ = _same_padding(out_w, kw, stride)
    y = F.conv_transpose2d(x.permute(0, 3, 1, 2), w.permute(3, 2, 0, 1), stride=stride)
    y = y[:, :, ph0 : ph0 + out_h, pw0 : pw0 + out_w]
    return y.permute(0, 2, 3, 1) + p[scope + "/biases"]


def moments(config, x, axes):
    """tf.nn.moments: mean, and variance = mean(squared_difference(x, stop_gradient(mean)))."""
    mean = x.mean(dim=axes, keepdim=True)
    centre = mean.detach() if config.moments_stop_gradient else mean
    variance = ((x - centre) ** 2).mean(dim=axes, keepdim=True)
    return mean, variance


def batch_norm(config, p, run, x, scope, decay, epsilon):
    """tf.contrib.layers.batch_norm(decay, epsilon, scale=True, fused=False,
    updates_collections=None, is_training=True): batch statistics over all axes but the last
    (biased variance), moving averages updated in place; nn.batch_normalization."""
    axes = list(range(x.dim() - 1))
    mean, variance = moments(config, x, axes)
    run.moving_average(scope + "/moving_mean", mean.reshape(-1), decay)
    run.moving_average(scope + "/moving_variance", variance.reshape(-1), decay)
    inv = torch.rsqrt(variance + epsilon) * p[scope + "/gamma"]
    return x * inv + (p[scope + "/beta"] - mean * inv)


def layer_norm(config, p, x, scope):
    """ops.layer_norm -> tf.contrib.layers.layer_norm(x) with its defaults: moments over all
    axes but the batch (begin_norm_axis=1), per-channel beta/gamma (begin_params_axis=-1),
    variance_epsilon 1e-12; nn.batch_normalization."""
    axes = list(range(1, x.dim()))
    mean, variance = moments(config, x, axes)
    inv = torch.rsqrt(variance + 1e-12) * p[scope + "/gamma"]
    return x * inv + (p[scope + "/beta"] - mean * inv)


def sigmoid_cross_entropy_with_logits(logits, labels):
    """tf.nn.sigmoid_cross_entropy_with_logits: max(x, 0) - x * z + log(1 + exp(-|x|))."""
    return torch.clamp(logits, min=0) - logits * labels + torch.log1p(torch.exp(-torch.abs(logits)))


# --------------------------------------------------------------- dcgan_architecture.py
def conv_out_size_same(size, stride):
    return int(math.ceil(float(size) / float(stride)))


def sn_generator(config, p, run, z):
    """dcgan_architecture.sn_generator (is_training=True)."""
    s_h = config.resolution
    s_h2 = conv_out_size_same(s_h, 2)
    s_h4 = conv_out_size_same(s_h2, 2)
    s_h8 = conv_out_size_same(s_h4, 2)

    def bn(x, scope):  # batch_norm_dcgan(..., epsilon=2e-5), decay 0.9
        return batch_norm(config, p, run, x, "generator/" + scope, decay=0.9, epsilon=2e-5)

    net = linear(p, run, z, "generator/g_fc1")
    net = torch.relu(bn(net, "g_bn1"))  # per feature of the flat s8*s8*512 vector
    net = net.reshape(-1, s_h8, s_h8, 512)
    net = torch.relu(bn(deconv2d(p, net, "generator/g_dc2", 2), "g_bn2"))  # -> s4, 256
    net = torch.relu(bn(deconv2d(p, net, "generator/g_dc3", 2), "g_bn3"))  # -> s2, 128
    net = torch.relu(bn(deconv2d(p, net, "generator/g_dc4", 2), "g_bn4"))  # -> s, 64
    net = deconv2d(p, net, "generator/g_dc5", 1)  # 3x3 stride 1 -> 3
    return (torch.tanh(net) + 1.0) / 2.0


def sn_discriminator(config, p, run, x):
    """dcgan_architecture.sn_discriminator: returns out_logit (squeezed to shape [N])."""
    use_sn = config.d_norm == "spectral"
    net = x * 2.0 - 1.0
    for i, stride in enumerate((1, 2, 1, 2, 1, 2, 1)):  # d_conv1..d_conv7: 3/1, 4/2, 3/1, ...
        net = lrelu(conv2d(p, run, net, f"discriminator/d_conv{i + 1}", stride, use_sn), leak=0.1)
    net = net.reshape(net.shape[0], -1)  # NHWC flattened row-major: (h, w, c)
    out_logit = linear(p, run, net, "discriminator/d_fc1", use_sn)
    return out_logit.squeeze()  # tf.squeeze: shape [N]


# -------------------------------------------------------------- resnet_architecture.py
def unpool(value):
    """resnet_architecture.unpool, literally: zero insertion, value at the top-left corner."""
    n, h, w, c = value.shape
    out = value.reshape(-1, w, c)  # [b*h, w, c]
    for axis in (2, 1):
        out = torch.cat([out, torch.zeros_like(out)], dim=axis)
    return out.reshape(-1, 2 * h, 2 * w, c)


def conv2d_of_unpooled(p, run, x, scope, use_sn=False):
    """conv2d(unpool(x)) for a 3x3 stride-1 SAME conv, without multiplying the inserted zeros.

    Output pixel o gets sum_k U[o + k - 1] w[k] with U[2i] = x[i] and zeros elsewhere: a
    stride-2 transposed convolution of x with the spatially flipped kernel, padding 1 and one
    extra output row/column. Same sums as the literal form (checked by the tests), 4x fewer
    multiplications.
    """
    w = p[scope + "/w"]
    if use_sn:
        w = spectral_norm(run, w, scope + "/w")
    if tuple(w.shape[:2]) != (3, 3):
        return conv2d(p, run, unpool(x), scope, 1, use_sn)
    weight = torch.flip(w.permute(2, 3, 0, 1), dims=(2, 3))  # (in, out, kh, kw), flipped
    y = F.conv_transpose2d(x.permute(0, 3, 1, 2), weight, stride=2, padding=1, output_padding=1)
    return y.permute(0, 2, 3, 1) + p[scope + "/biases"]


def get_conv(p, run, x, scale, scope, use_sn):
    """resnet_architecture.get_conv: 3x3 conv; "up": unpool first; "down": 2x2 avg pool after."""
    if scale == "up":  # ops.conv2d(unpool(x), ...)
        return conv2d_of_unpooled(p, run, x, scope.replace("{}", "up"), use_sn)
    if scale == "none":
        return conv2d(p, run, x, scope.replace("{}", "same"), 1, use_sn)
    out = conv2d(p, run, x, scope.replace("{}", "down"), 1, use_sn)
    # tf.nn.pool(AVG, [2, 2], "SAME", strides [2, 2]): even sizes, so no padding.
    return F.avg_pool2d(out.permute(0, 3, 1, 2), 2).permute(0, 2, 3, 1)


def resnet_block(config, p, run, x, scale, scope, d_norm, is_gen_block):
    """resnet_architecture.resnet_block. G blocks: scale in the first conv, batch norm.
    D blocks: scale in the second conv, the D's normalisation (spectral: in the convs)."""
    scale1, scale2 = (scale, "none") if is_gen_block else ("none", scale)
    use_sn = d_norm == "spectral" and not is_gen_block

    def norm(h, name):
        if is_gen_block or d_norm == "batch_norm":  # batch_norm_resnet: decay 0.9, eps 1e-5
            return batch_norm(config, p, run, h, f"{scope}/bn{name}", decay=0.9, epsilon=1e-5)
        if d_norm == "layer_norm":
            return layer_norm(config, p, h, f"{scope}/ln{name}")
        return h

    shortcut = get_conv(p, run, x, scale, f"{scope}/{{}}_conv_shortcut", use_sn)
    out = torch.relu(norm(x, "1"))
    out = get_conv(p, run, out, scale1, f"{scope}/{{}}_conv1", use_sn)
    out = torch.relu(norm(out, "2"))
    out = get_conv(p, run, out, scale2, f"{scope}/{{}}_conv2", use_sn)
    return out + shortcut


def resnet_cifar_generator(config, p, run, z):
    """resnet_architecture.resnet_cifar_generator (is_training=True)."""
    out = linear(p, run, z, "generator/fc_noise").reshape(-1, 4, 4, 256)
    for i in range(3):
        out = resnet_block(config, p, run, out, "up", f"generator/B{i + 1}", "none", True)
    out = batch_norm(config, p, run, out, "generator/final_norm", decay=0.9, epsilon=1e-5)
    out = conv2d(p, run, torch.relu(out), "generator/final_conv")
    return torch.sigmoid(out)


def resnet_cifar_discriminator(config, p, run, x):
    """resnet_architecture.resnet_cifar_discriminator: returns out_logit, shape [N, 1]."""
    out = x  # no [-1, 1] mapping in the ResNet D
    for i in range(4):
        scale = "down" if i <= 1 else "none"
        out = resnet_block(config, p, run, out, scale, f"discriminator/B{i}", config.d_norm, False)
    pre_logits = torch.relu(out).mean(dim=(1, 2))
    return linear(p, run, pre_logits, "discriminator/disc_final_fc", config.d_norm == "spectral")


def generator(config, p, run, z):
    fn = sn_generator if config.architecture == "sndcgan" else resnet_cifar_generator
    return fn(config, p, run, z)


def discriminator(config, p, run, x):
    fn = sn_discriminator if config.architecture == "sndcgan" else resnet_cifar_discriminator
    return fn(config, p, run, x)


# ------------------------------------------------------------------------- variables
def variable_specs(config):
    """[(name, shape, kind)] of every variable; kind is "trainable", "u" or "moving".

    Order: generator first, then discriminator, each in creation order."""
    specs = []

    def lin(scope, n_in, n_out, sn=False):
        specs.append((scope + "/Matrix", (n_in, n_out), "trainable"))
        specs.append((scope + "/bias", (n_out,), "trainable"))
        if sn:
            specs.append((scope + "/Matrix/u_var", (n_in, 1), "u"))

    def conv(scope, k, c_in, c_out, sn=False):
        specs.append((scope + "/w", (k, k, c_in, c_out), "trainable"))
        specs.append((scope + "/biases", (c_out,), "trainable"))
        if sn:
            specs.append((scope + "/w/u_var", (k * k * c_in, 1), "u"))

    def deconv(scope, k, c_in, c_out):
        specs.append((scope + "/w", (k, k, c_out, c_in), "trainable"))
        specs.append((scope + "/biases", (c_out,), "trainable"))

    def bn(scope, c):
        specs.extend([(scope + "/beta", (c,), "trainable"), (scope + "/gamma", (c,), "trainable"),
                      (scope + "/moving_mean", (c,), "moving"), (scope + "/moving_variance", (c,), "moving")])

    def ln(scope, c):
        specs.extend([(scope + "/beta", (c,), "trainable"), (scope + "/gamma", (c,), "trainable")])

    sn = config.d_norm == "spectral"
    if config.architecture == "sndcgan":
        s8 = conv_out_size_same(conv_out_size_same(conv_out_size_same(config.resolution, 2), 2), 2)
        lin("generator/g_fc1", config.z_dim, s8 * s8 * 512)
        bn("generator/g_bn1", s8 * s8 * 512)
        for i, (c_in, c_out) in enumerate(((512, 256), (256, 128), (128, 64))):
            deconv(f"generator/g_dc{i + 2}", 4, c_in, c_out)
            bn(f"generator/g_bn{i + 2}", c_out)
        deconv("generator/g_dc5", 3, 64, 3)
        c_in = 3
        for i, (k, c_out) in enumerate(((3, 64), (4, 128), (3, 128), (4, 256), (3, 256), (4, 512), (3, 512))):
            conv(f"discriminator/d_conv{i + 1}", k, c_in, c_out, sn)
            c_in = c_out
        lin("discriminator/d_fc1", s8 * s8 * 512, 1, sn)
    else:
        lin("generator/fc_noise", config.z_dim, 4 * 4 * 256)
        for i in range(3):
            scope = f"generator/B{i + 1}"
            conv(scope + "/up_conv_shortcut", 3, 256, 256)
            bn(scope + "/bn1", 256)
            conv(scope + "/up_conv1", 3, 256, 256)
            bn(scope + "/bn2", 256)
            conv(scope + "/same_conv2", 3, 256, 256)
        bn("generator/final_norm", 256)
        conv("generator/final_conv", 3, 256, 3)
        c_in = 3
        for i in range(4):
            scope = f"discriminator/B{i}"
            scale = "down" if i <= 1 else "same"
            conv(f"{scope}/{scale}_conv_shortcut", 3, c_in, 128, sn)
            if config.d_norm == "batch_norm":
                bn(scope + "/bn1", c_in)
            elif config.d_norm == "layer_norm":
                ln(scope + "/ln1", c_in)
            conv(scope + "/same_conv1", 3, c_in, 128, sn)
            if config.d_norm == "batch_norm":
                bn(scope + "/bn2", 128)
            elif config.d_norm == "layer_norm":
                ln(scope + "/ln2", 128)
            conv(f"{scope}/{scale}_conv2", 3, 128, 128, sn)
            c_in = 128
        lin("discriminator/disc_final_fc", 128, 1, sn)
    return specs


def random_weights(config, seed=0):
    """compare_gan-like initial values (N(0, 0.02) kernels, u ~ N(0, 1), gamma 1, moving 0/1),
    with non-zero biases and BN/LN parameters so that tests exercise every term."""
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape, kind in variable_specs(config):
        leaf = name.rsplit("/", 1)[-1]
        if kind == "u":
            value = rng.normal(size=shape)
        elif leaf == "moving_mean":
            value = rng.normal(0.0, 0.1, size=shape)
        elif leaf == "moving_variance":
            value = rng.uniform(0.5, 1.5, size=shape)
        elif leaf == "gamma":
            value = 1.0 + rng.normal(0.0, 0.1, size=shape)
        elif leaf in ("beta", "bias", "biases"):
            value = rng.normal(0.0, 0.05, size=shape)
        else:
            value = rng.normal(0.0, 0.02, size=shape)
        weights[name] = value
    return weights


# ------------------------------------------------------------------------------ losses
def discriminator_loss(config, d_real_logits, d_fake_logits):
    """gans_with_penalty.build_model: self.d_loss before the penalty."""
    if config.loss == "ns":  # GAN_PENALTY: sigmoid CE with labels 1 (real) and 0 (fake)
        return sigmoid_cross_entropy_with_logits(d_real_logits, 1.0).mean() + \
            sigmoid_cross_entropy_with_logits(d_fake_logits, 0.0).mean()
    if config.loss == "wgan":  # WGAN_PENALTY
        return -d_real_logits.mean() + d_fake_logits.mean()
    # LSGAN_PENALTY, on d = sigmoid(logit)
    return 0.5 * (((torch.sigmoid(d_real_logits) - 1.0) ** 2).mean() + (torch.sigmoid(d_fake_logits) ** 2).mean())


def generator_loss(config, d_fake_logits):
    """gans_with_penalty.build_model: self.g_loss."""
    if config.loss == "ns":  # non-saturating: CE(D(G(z)), 1)
        return sigmoid_cross_entropy_with_logits(d_fake_logits, 1.0).mean()
    if config.loss == "wgan":
        return -d_fake_logits.mean()
    return 0.5 * ((torch.sigmoid(d_fake_logits) - 1.0) ** 2).mean()


def wgangp_penalty(config, p, run, x, x_fake, alpha):
    """AbstractGANWithPenalty.wgangp_penalty (alpha given: tf.random_uniform([N, 1, 1, 1]))."""
    interpolates = (x + alpha * (x_fake - x)).detach().requires_grad_(True)
    logits = discriminator(config, p, run, interpolates)
    (gradients,) = torch.autograd.grad(logits.sum(), interpolates, create_graph=True)
    slopes = torch.sqrt(0.0001 + (gradients**2).sum(dim=(1, 2, 3)))
    return ((slopes - 1.0) ** 2).mean()


# ---------------------------------------------------------------------------------- Adam
class Adam:
    """tf.train.AdamOptimizer(lr, beta1, beta2), epsilon 1e-8 (its default): one per network.

    lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t); m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    var -= lr_t * m / (sqrt(v) + epsilon)."""

    def __init__(self, lr, beta1, beta2, epsilon=1e-8):
        self.lr, self.beta1, self.beta2, self.epsilon = lr, beta1, beta2, epsilon
        self.t = 0
        self.m, self.v = {}, {}
        # Per apply(), for diagnostics and tolerances: the gradients, and the denominators
        # sqrt(v_hat) + epsilon_hat with which lr * m_hat is divided (the update's sensitivity
        # to a gradient error d is at most about 2 d / denominator).
        self.gradients, self.denominators = [], []

    def apply(self, params, grads):
        self.t += 1
        self.gradients.append({name: g.detach().numpy().astype(np.float64) for name, g in grads.items()})
        lr_t = self.lr * math.sqrt(1.0 - self.beta2**self.t) / (1.0 - self.beta1**self.t)
        denominators = {}
        self.denominators.append(denominators)
        for name, g in grads.items():
            m = self.m.get(name, torch.zeros_like(g))
            v = self.v.get(name, torch.zeros_like(g))
            m = self.beta1 * m + (1.0 - self.beta1) * g
            v = self.beta2 * v + (1.0 - self.beta2) * g * g
            self.m[name], self.v[name] = m, v
            denominators[name] = ((torch.sqrt(v) + self.epsilon) / math.sqrt(1.0 - self.beta2**self.t)).numpy().astype(np.float64)
            params[name] = (params[name] - lr_t * m / (torch.sqrt(v) + self.epsilon)).detach()


# -------------------------------------------------------------------------- the step
@dataclasses.dataclass
class StepResult:
    d_losses: list  # one per D update (penalty included, times lambda)
    penalties: list  # one per D update (0.0 without a penalty)
    g_loss: float
    weights: dict  # name -> float64 NumPy array, after the step
    d_optimizer: Adam
    g_optimizer: Adam

    @property
    def d_loss(self):
        return float(np.mean(self.d_losses))

    @property
    def penalty(self):
        return float(np.mean(self.penalties))


def _trainable(config, prefix):
    return [n for n, _, kind in variable_specs(config) if kind == "trainable" and n.startswith(prefix)]


def discriminator_update(config, params, state, d_opt, images, z, alpha):
    """sess.run(d_optim) of run_single_train_step; returns (d_loss, penalty_loss)."""
    run = Run(state)
    d_vars = _trainable(config, "discriminator/")
    p = {n: (t.detach().requires_grad_(True) if n in d_vars else t.detach()) for n, t in params.items()}
    d_real_logits = discriminator(config, p, run, images)
    with torch.no_grad():  # D's optimizer only touches D's variables: no G gradient needed
        generated = generator(config, p, run, z)
    d_fake_logits = discriminator(config, p, run, generated)
    d_loss = discriminator_loss(config, d_real_logits, d_fake_logits)
    penalty = torch.zeros((), dtype=DTYPE)
    if config.penalty == "wgangp":
        penalty = wgangp_penalty(config, p, run, images, generated, alpha)
        d_loss = d_loss + config.lambd * penalty
    grads = torch.autograd.grad(d_loss, [p[n] for n in d_vars])
    d_opt.apply(params, dict(zip(d_vars, grads)))
    run.commit()
    return float(d_loss.detach()), float(penalty.detach())


def generator_update(config, params, state, g_opt, z):
    """sess.run(g_optim, feed_dict={z: batch_z}) of run_single_train_step; returns g_loss."""
    run = Run(state)
    g_vars = _trainable(config, "generator/")
    p = {n: (t.detach().requires_grad_(True) if n in g_vars else t.detach()) for n, t in params.items()}
    generated = generator(config, p, run, z)
    d_fake_logits = discriminator(config, p, run, generated)
    g_loss = generator_loss(config, d_fake_logits)
    grads = torch.autograd.grad(g_loss, [p[n] for n in g_vars])
    g_opt.apply(params, dict(zip(g_vars, grads)))
    run.commit()
    return float(g_loss.detach())


def train_step(config, weights, images, zs, alphas=None, d_optimizer=None, g_optimizer=None):
    """`disc_iters` consecutive calls of AbstractGAN.run_single_train_step, counters 1..n.

    In abstract_gan.train, the D step `counter` (from 1) is followed by a G update when
    (counter - 1) % disc_iters == 0, with the same batch_z (resample_before_generator() is
    False). So a group of n D updates is: D update 0, the G update, D updates 1 .. n-1.

    Args:
        config: Config.
        weights: dict name -> array (every variable of variable_specs(config)).
        images: (disc_iters * N, H, W, 3) in [0, 1]; D update j uses rows j*N .. (j+1)*N - 1.
        zs: (disc_iters, N, z_dim), one z per D update (the G update reuses zs[0]).
        alphas: (disc_iters, N, 1, 1, 1) WGAN-GP interpolation weights (wgangp only).
        d_optimizer, g_optimizer: Adam states to continue from (fresh ones by default).
    """
    n = config.disc_iters
    images = np.asarray(images, dtype=np.float64)
    zs = np.asarray(zs, dtype=np.float64)
    if images.shape[0] % n or zs.shape[0] != n or zs.shape[1] != images.shape[0] // n:
        raise ValueError(f"images {images.shape} and zs {zs.shape} do not match disc_iters={n}")
    if config.penalty == "wgangp":
        if alphas is None:
            raise ValueError("wgangp needs alphas of shape (disc_iters, N, 1, 1, 1)")
        alphas = np.asarray(alphas, dtype=np.float64).reshape(n, -1, 1, 1, 1)
    specs = variable_specs(config)
    missing = [name for name, _, _ in specs if name not in weights]
    if missing:
        raise KeyError(f"weights lack {len(missing)} variables, e.g. {missing[:5]}")
    for name, shape, _ in specs:
        if tuple(np.shape(weights[name])) != tuple(shape):
            raise ValueError(f"{name}: shape {np.shape(weights[name])}, expected {shape}")
    as_t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64))  # noqa: E731
    params = {name: as_t(weights[name]) for name, _, kind in specs if kind == "trainable"}
    state = {name: as_t(weights[name]) for name, _, kind in specs if kind != "trainable"}
    d_opt = d_optimizer or Adam(config.learning_rate, config.beta1, config.beta2)
    g_opt = g_optimizer or Adam(config.learning_rate, config.beta1, config.beta2)

    per = images.shape[0] // n
    d_losses, penalties, g_loss = [], [], None
    for counter in range(1, n + 1):
        j = counter - 1
        batch_images = as_t(images[j * per : (j + 1) * per])
        batch_z = as_t(zs[j])
        alpha = as_t(alphas[j]) if config.penalty == "wgangp" else None
        d_loss, penalty = discriminator_update(config, params, state, d_opt, batch_images, batch_z, alpha)
        d_losses.append(d_loss)
        penalties.append(penalty)
        if (counter - 1) % n == 0 or g_loss is None:
            g_loss = generator_update(config, params, state, g_opt, batch_z)

    new_weights = {name: t.numpy().astype(np.float64) for name, t in {**params, **state}.items()}
    return StepResult(d_losses, penalties, g_loss, new_weights, d_opt, g_opt)
