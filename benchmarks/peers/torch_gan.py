"""The PyTorch peer: a straightforward PyTorch version of the benchmarked GAN training step.

Self-contained (does not import ganzoo). Written the way the PyTorch DCGAN example is written:
NCHW tensors, eager modules, torch.nn.utils.spectral_norm on every discriminator conv and linear,
torch.optim.Adam, `loss.backward()`. The generator's forward pass for the discriminator update
runs under torch.no_grad(); the discriminator sees real and generated images (and, with WGAN-GP,
the interpolates) concatenated in one call, as keras.io's example does: called twice before one
backward, spectral_norm's in-place update of u breaks torch.compile's backward. The generator
update back-propagates through D with D's parameters left trainable (as the DCGAN example does;
their gradients are dropped before D's next update).

Models (compare_gan v2, see shared/notes/REFERENCE.md section 1):
- SNDCGAN (resolution divisible by 8): G 3,828,739 and D 5,860,865 parameters at 32x32.
- ResNet-CIFAR (32x32): G 5,849,603 and D 1,483,137 parameters.
"""
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import spectral_norm

Z_DIM = 128


def _init(module):
    """Weights N(0, 0.02), biases zero (the paper's initialisation); BN gamma 1, beta 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            nn.init.zeros_(m.bias)


def _bn1d(n, eps):
    # Keras/TF momentum 0.9 is torch momentum 0.1.
    return nn.BatchNorm1d(n, eps=eps, momentum=0.1)


def _bn2d(n, eps):
    return nn.BatchNorm2d(n, eps=eps, momentum=0.1)


class SNDCGANGenerator(nn.Module):
    def __init__(self, resolution=32):
        super().__init__()
        self.s = resolution // 8
        self.linear = nn.Linear(Z_DIM, self.s * self.s * 512)
        self.bn0 = _bn1d(self.s * self.s * 512, 2e-5)  # per flat feature, as compare_gan
        self.deconv1 = nn.ConvTranspose2d(512, 256, 4, 2, 1)
        self.bn1 = _bn2d(256, 2e-5)
        self.deconv2 = nn.ConvTranspose2d(256, 128, 4, 2, 1)
        self.bn2 = _bn2d(128, 2e-5)
        self.deconv3 = nn.ConvTranspose2d(128, 64, 4, 2, 1)
        self.bn3 = _bn2d(64, 2e-5)
        self.conv_out = nn.Conv2d(64, 3, 3, 1, 1)
        _init(self)

    def forward(self, z):
        x = F.relu(self.bn0(self.linear(z))).view(-1, 512, self.s, self.s)
        x = F.relu(self.bn1(self.deconv1(x)))
        x = F.relu(self.bn2(self.deconv2(x)))
        x = F.relu(self.bn3(self.deconv3(x)))
        return (torch.tanh(self.conv_out(x)) + 1.0) / 2.0


class SNDCGANDiscriminator(nn.Module):
    # (kernel, stride, out channels) of compare_gan's SNDCGAN discriminator.
    SPEC = ((3, 1, 64), (4, 2, 128), (3, 1, 128), (4, 2, 256), (3, 1, 256), (4, 2, 512), (3, 1, 512))

    def __init__(self, resolution=32):
        super().__init__()
        convs, c_in = [], 3
        for k, s, c_out in self.SPEC:
            convs.append(spectral_norm(nn.Conv2d(c_in, c_out, k, s, 1)))
            c_in = c_out
        self.convs = nn.ModuleList(convs)
        s = resolution // 8
        self.linear = spectral_norm(nn.Linear(s * s * 512, 1))
        _init(self)

    def forward(self, x):
        x = 2.0 * x - 1.0
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.1)
        return self.linear(torch.flatten(x, 1))


def unpool(x):
    """Zero insertion: [[1, 2], [3, 4]] -> 1 0 2 0 / 0 0 0 0 / 3 0 4 0 / 0 0 0 0 (NCHW)."""
    n, c, h, w = x.shape
    y = x.new_zeros(n, c, 2 * h, 2 * w)
    y[:, :, ::2, ::2] = x
    return y


class GBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.bn1 = _bn2d(c_in, 1e-5)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, 1, 1)
        self.bn2 = _bn2d(c_out, 1e-5)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 3, 1, 1)

    def forward(self, x):
        h = self.conv1(unpool(F.relu(self.bn1(x))))
        h = self.conv2(F.relu(self.bn2(h)))
        return h + self.shortcut(unpool(x))


class DBlock(nn.Module):
    def __init__(self, c_in, c_out, down, first=False):
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = spectral_norm(nn.Conv2d(c_in, c_out, 3, 1, 1))
        self.conv2 = spectral_norm(nn.Conv2d(c_out, c_out, 3, 1, 1))
        self.shortcut = spectral_norm(nn.Conv2d(c_in, c_out, 3, 1, 1))

    def forward(self, x):
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        s = self.shortcut(x)
        if self.down:
            h, s = F.avg_pool2d(h, 2), F.avg_pool2d(s, 2)
        return h + s


class ResNetCifarGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(Z_DIM, 4 * 4 * 256)
        self.blocks = nn.Sequential(GBlock(256, 256), GBlock(256, 256), GBlock(256, 256))
        self.bn = _bn2d(256, 1e-5)
        self.conv_out = nn.Conv2d(256, 3, 3, 1, 1)
        _init(self)

    def forward(self, z):
        x = self.blocks(self.linear(z).view(-1, 256, 4, 4))
        return torch.sigmoid(self.conv_out(F.relu(self.bn(x))))


class ResNetCifarDiscriminator(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(
            DBlock(3, 128, down=True, first=True), DBlock(128, 128, down=True),
            DBlock(128, 128, down=False), DBlock(128, 128, down=False))
        self.linear = spectral_norm(nn.Linear(128, 1))
        _init(self)

    def forward(self, x):
        x = F.relu(self.blocks(2.0 * x - 1.0))
        return self.linear(x.mean(dim=(2, 3)))


def build_models(architecture, resolution=32):
    if architecture == "sndcgan":
        return SNDCGANGenerator(resolution), SNDCGANDiscriminator(resolution)
    if architecture == "resnet_cifar":
        return ResNetCifarGenerator(), ResNetCifarDiscriminator()
    raise ValueError(f"unknown architecture {architecture!r}; valid: sndcgan, resnet_cifar")


def count_params(module):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _z(batch_size, device):
    return torch.rand(batch_size, Z_DIM, device=device) * 2.0 - 1.0  # z ~ U(-1, 1)


class TorchGANStep:
    """One training step: `disc_iters` D updates (each on its own slice of the batch), one G update.

    NS loss; optional WGAN-GP penalty (x_hat = x + alpha (G(z) - x), slope = sqrt(1e-4 + |g|^2)).
    """

    def __init__(self, architecture, batch_size, disc_iters=1, penalty_weight=0.0,
                 compile_models=False, lr=2e-4, beta1=0.5, beta2=0.999, seed=0, device="cpu"):
        torch.manual_seed(seed)
        self.device = torch.device(device)
        self.g, self.d = (m.to(self.device) for m in build_models(architecture))
        self.g.train()
        self.d.train()
        self.batch_size, self.disc_iters = batch_size, disc_iters
        self.penalty_weight = penalty_weight
        self.g_opt = torch.optim.Adam(self.g.parameters(), lr=lr, betas=(beta1, beta2), eps=1e-8)
        self.d_opt = torch.optim.Adam(self.d.parameters(), lr=lr, betas=(beta1, beta2), eps=1e-8)
        self.g_params, self.d_params = count_params(self.g), count_params(self.d)
        self.g_fn, self.d_fn = self.g, self.d
        if compile_models:
            self.g_fn, self.d_fn = torch.compile(self.g), torch.compile(self.d)

    def _d_update(self, real):
        b = real.shape[0]
        with torch.no_grad():
            fake = self.g_fn(_z(b, self.device))
        # One D call on real, generated (and interpolated) images: D's power iteration runs once
        # per update, and torch.compile accepts spectral_norm's in-place u update.
        inputs = [real, fake]
        if self.penalty_weight:
            alpha = torch.rand(b, 1, 1, 1, device=self.device)
            x_hat = (real + alpha * (fake - real)).requires_grad_(True)
            inputs.append(x_hat)
        logits = self.d_fn(torch.cat(inputs))
        d_real, d_fake = logits[:b], logits[b:2 * b]
        d_loss = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                  + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        if self.penalty_weight:
            (grad,) = torch.autograd.grad(logits[2 * b:].sum(), x_hat, create_graph=True)
            slope = torch.sqrt(1e-4 + grad.pow(2).sum(dim=(1, 2, 3)))
            d_loss = d_loss + self.penalty_weight * ((slope - 1.0) ** 2).mean()
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        return d_loss

    def _g_update(self):
        d_fake = self.d_fn(self.g_fn(_z(self.batch_size, self.device)))
        g_loss = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        self.g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_opt.step()
        return g_loss

    def step(self, images):
        """images: NCHW float32 in [0, 1], disc_iters * batch_size of them. Returns the losses
        as tensors (no host synchronisation)."""
        for i in range(self.disc_iters):
            d_loss = self._d_update(images[i * self.batch_size:(i + 1) * self.batch_size])
        g_loss = self._g_update()
        return d_loss.detach(), g_loss.detach()
