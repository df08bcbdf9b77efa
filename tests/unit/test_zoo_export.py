"""ganzoo.zoo.export: the plain-Keras copy of the ResNet generators, with and without SAGAN's
self-attention block, equals the generator bit for bit and loads with Keras alone (safe mode).
The families' own channel plans are shrunk (the export reads the layers, not the plan), so each
case builds in seconds; SNDCGAN's export is tested end to end in test_zoo_run_to_preset."""
import numpy as np
import pytest

import keras

from ganzoo.architectures.resnet19 import ResNet19Generator
from ganzoo.architectures.resnet_cifar import ResNetCIFARGenerator
from ganzoo.zoo import export


class SmallResNetCIFAR(ResNetCIFARGenerator):
    BASE_CHANNELS = 16
    BLOCK_CHANNELS = (16, 16, 16)


class SmallResNet19(ResNet19Generator):
    BASE_CHANNELS = 16
    BLOCK_CHANNELS = (16, 16, 16, 16, 8)


def _trained_looking(generator, seed):
    """Move every weight off its initial value (BN statistics and SAGAN's sigma, which starts at
    0 and would hide the block, included), as training would."""
    rng = np.random.default_rng(seed)
    for variable in generator.weights:
        value = np.asarray(keras.ops.convert_to_numpy(variable))
        noise = rng.normal(0, 0.05, value.shape).astype(value.dtype)
        if "variance" in variable.path:
            variable.assign(np.abs(value + noise) + 0.5)
        else:
            variable.assign(value + noise)
    return generator


@pytest.mark.parametrize("cls, self_attention", [
    (SmallResNetCIFAR, 0), (SmallResNetCIFAR, 16), (SmallResNet19, 64)])
def test_resnet_copy_equals_the_generator_and_loads_without_ganzoo(tmp_path, cls, self_attention):
    generator = _trained_looking(cls(self_attention=self_attention), seed=self_attention)
    if self_attention:
        assert float(keras.ops.convert_to_numpy(generator.attention.sigma)) != 0
    path = export.export_generator(generator, tmp_path / "generator.keras")
    copy = keras.saving.load_model(str(path))  # safe mode: built-in layers only
    layers = {type(layer).__module__.split(".")[0] for layer in copy.layers}
    assert layers == {"keras"}
    assert any("attention" in layer.name for layer in copy.layers) == bool(self_attention)
    z = np.random.default_rng(7).uniform(-1, 1, (5, generator.z_dim)).astype("float32")
    want = keras.ops.convert_to_numpy(generator(z, training=False))
    got = keras.ops.convert_to_numpy(copy(z, training=False))
    assert want.shape == (5, generator.resolution, generator.resolution, 3)
    np.testing.assert_array_equal(got, want)


class WithAnExtraLayer(SmallResNetCIFAR):
    def __init__(self, **kwargs):
        self.extra = None
        super().__init__(**kwargs)

    def build(self, *args):
        if self.extra is None:  # a layer call() would use, with weights the export cannot place
            self.extra = keras.layers.Dense(3, name="extra")
            self.extra.build((None, 3))
        super().build(*args)


def test_a_layer_the_export_does_not_know_is_refused(tmp_path):
    generator = WithAnExtraLayer()
    assert generator.extra.weights
    with pytest.raises(ValueError, match=r"copied \d+ of the generator's \d+ variables"):
        export.export_generator(generator, tmp_path / "generator.keras")
    assert not (tmp_path / "generator.keras").exists()
