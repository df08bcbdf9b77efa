"""The model zoo: weights_manifest.json, the Hub mirror and cache, `ganzoo.load`.

    import ganzoo
    ganzoo.list_models(dataset="cifar10")
    generator = ganzoo.load("sndcgan-ns-sn-cifar10")
    images = generator.sample(16, seed=0)
"""
from ganzoo.zoo.hub import IntegrityError, NotPublishedError, ZooError
from ganzoo.zoo.loading import list_models, load

__all__ = ["IntegrityError", "NotPublishedError", "ZooError", "list_models", "load"]
