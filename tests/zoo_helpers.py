"""Shared by the zoo tests: training/publish.py imported once per process (its absl flags are
global, so a second import under another module name would define them twice)."""
import importlib.util
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
_MODULE = "ganzoo_publish_script"


def publish_script():
    module = sys.modules.get(_MODULE)
    if module is None:
        spec = importlib.util.spec_from_file_location(_MODULE, ROOT / "training" / "publish.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[_MODULE] = module
        spec.loader.exec_module(module)
    return module
