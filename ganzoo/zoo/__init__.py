"""The model zoo: weights_manifest.json, the Hub mirror and cache, `ganzoo.load`."""
