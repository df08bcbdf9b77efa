"""ganzoo: the GAN Landscape (Kurach et al.) as a Keras 3 model zoo.

Heavy submodules load on first use, so `import ganzoo` stays cheap and the CLI starts fast.
"""
import importlib

__version__ = "0.1.0"

_LAZY = {
    "GAN": "ganzoo.gan",
    "build_gan": "ganzoo.gan",
    "Recipe": "ganzoo.recipe",
    "paper_adam": "ganzoo.optimizers",
    "GANOptimizer": "ganzoo.optimizers",
    "architectures": "ganzoo.architectures",
    "layers": "ganzoo.layers",
    "losses": "ganzoo.losses",
    "penalties": "ganzoo.penalties",
    "load": "ganzoo.zoo",
    "list_models": "ganzoo.zoo",
    "load_recipe": "ganzoo.zoo",
    "load_classifier": "ganzoo.zoo.classifiers",
    "metrics": "ganzoo.metrics",
    "data": "ganzoo.data",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'ganzoo' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value
