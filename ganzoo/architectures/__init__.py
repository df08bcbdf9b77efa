"""Architecture families by name: one file per family, chosen with build_generator/discriminator."""
import difflib

import ganzoo.backend  # noqa: F401 - refuses Keras backends other than tensorflow and jax
from ganzoo.architectures.base import (
    DEFAULT_Z_DIM,
    Discriminator,
    Generator,
    check_labels,
    check_sample_args,
    check_truncation,
    class_rows,
    sample_labels,
    sample_noise,
)
from ganzoo.architectures.mlp2d import MLP2DDiscriminator, MLP2DGenerator
from ganzoo.architectures.resnet19 import ResNet19Discriminator, ResNet19Generator
from ganzoo.architectures.resnet_cifar import ResNetCIFARDiscriminator, ResNetCIFARGenerator
from ganzoo.architectures.sndcgan import SNDCGANDiscriminator, SNDCGANGenerator

# name -> (generator class, discriminator class, default resolution)
ARCHITECTURES = {
    "sndcgan": (SNDCGANGenerator, SNDCGANDiscriminator, 32),
    "resnet19": (ResNet19Generator, ResNet19Discriminator, 128),
    "resnet_cifar": (ResNetCIFARGenerator, ResNetCIFARDiscriminator, 32),
    "mlp2d": (MLP2DGenerator, MLP2DDiscriminator, 1),  # 2-D points: the mixtures test bed
}


def _lookup(architecture):
    key = str(architecture).lower().replace("-", "_")
    if key not in ARCHITECTURES:
        close = difflib.get_close_matches(key, ARCHITECTURES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown architecture {architecture!r}; valid choices: "
            f"{', '.join(ARCHITECTURES)}.{hint}"
        )
    return ARCHITECTURES[key]


def build_generator(architecture, resolution=None, z_dim=DEFAULT_Z_DIM, name="generator", num_classes=0,
                    class_embedding=0, self_attention=0):
    """A built generator of the named family (images in [0, 1]); num_classes > 0: conditional
    batch norm (class_embedding > 0: BigGAN's shared class embedding of that size);
    self_attention > 0 (ResNet families): SAGAN's block after the first block of that output side."""
    generator_cls, _, default_resolution = _lookup(architecture)
    options = {"self_attention": self_attention} if self_attention else {}
    return generator_cls(resolution=resolution or default_resolution, z_dim=z_dim, name=name,
                         num_classes=num_classes, class_embedding=class_embedding, **options)


def build_discriminator(architecture, resolution=None, normalization="spectral", name="discriminator",
                        num_classes=0, **options):
    """A built discriminator of the named family (one logit per image); num_classes > 0: the
    projection discriminator. options: the minibatch layers of
    ganzoo.architectures.base.Discriminator (minibatch_stddev, minibatch_discrimination), and
    self_attention (ResNet families, as for build_generator)."""
    _, discriminator_cls, default_resolution = _lookup(architecture)
    return discriminator_cls(
        resolution=resolution or default_resolution, normalization=normalization, name=name,
        num_classes=num_classes, **options
    )


def architecture_name(model):
    """The registry name of a generator or discriminator instance."""
    for name, classes in ARCHITECTURES.items():
        if isinstance(model, classes[:2]):
            return name
    raise ValueError(f"{type(model).__name__} is not a ganzoo architecture.")


__all__ = [
    "ARCHITECTURES",
    "Discriminator",
    "Generator",
    "MLP2DDiscriminator",
    "MLP2DGenerator",
    "ResNet19Discriminator",
    "ResNet19Generator",
    "ResNetCIFARDiscriminator",
    "ResNetCIFARGenerator",
    "check_labels",
    "check_sample_args",
    "check_truncation",
    "class_rows",
    "SNDCGANDiscriminator",
    "SNDCGANGenerator",
    "architecture_name",
    "build_discriminator",
    "build_generator",
    "sample_labels",
    "sample_noise",
]
