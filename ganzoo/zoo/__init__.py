"""The model zoo: weights_manifest.json, presets, the Hub mirror and cache, `ganzoo.load`.

    import ganzoo
    ganzoo.list_models(dataset="cifar10")
    generator = ganzoo.load("sndcgan-ns-sn-cifar10")     # or "hf://owner/repo@COMMIT", or a folder
    images = generator.sample(16, seed=0)
"""
from ganzoo.zoo.classes import CIFAR10_CLASSES, class_index
from ganzoo.zoo.hub import IntegrityError, NotPublishedError, ZooError
from ganzoo.zoo.loading import UnverifiedFilesWarning, list_models, load
from ganzoo.zoo.manifest import load_recipe
from ganzoo.zoo.preset import PresetError, PresetInfo, choose_inference_generator, load_preset, save_preset

__all__ = [
    "CIFAR10_CLASSES", "IntegrityError", "NotPublishedError", "PresetError", "PresetInfo", "UnverifiedFilesWarning", "ZooError",
    "choose_inference_generator", "class_index", "list_models", "load", "load_preset", "load_recipe", "save_preset",
]
