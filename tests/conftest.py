"""Shared test setup: quiet TensorFlow logs; small helpers used across test files.

tests/unit/ holds unit tests (one module, small made-up data, in process), tests/integration/
integration tests (real processes, real CIFAR10 data, the loopback Hub, published models,
cross-backend runs). Shared helpers (hub_server.py, cross_backend_steps.py, reference/) stay here;
the three folders are put on sys.path so a test can import them and another test's fixtures.
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
for _folder in (_HERE, os.path.join(_HERE, "unit"), os.path.join(_HERE, "integration")):
    if _folder not in sys.path:
        sys.path.insert(0, _folder)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests compile many small train steps: on JAX, XLA's optimisation passes cost more than they
# save at these sizes (read when jax is first imported, so it is set before any test module).
# Not for a test that runs its programs many times or on large batches: the optimised_xla fixture
# below, and JAX_DISABLE_MOST_OPTIMIZATIONS=0 in the environment of such tests' subprocesses.
# (Measured on an AMD 2-core machine, 2026-12-04: the JAX pass took 1,170 s as set here and 1,099
# s with the passes on everywhere; some tests gained 30-70%, the classifier and step-reference
# tests lost 30-55%.)
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
# JAX: one persistent compilation cache for the session, in process and in the subprocesses tests
# start (train.py, ganzoo ...): many tests compile the same programs (the same models at the same
# shapes), which XLA then compiles once. A fresh temporary folder, removed at the session's end, so
# no run reads another's entries. Measured on tests/unit/test_gan.py (JAX, loaded 2-core machine):
# 302 s without, 251 s with a fresh cache (166 s with a warm one).
_JAX_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import tempfile

    _JAX_CACHE = tempfile.mkdtemp(prefix="ganzoo-tests-jax-cache-")
    os.environ.update(JAX_COMPILATION_CACHE_DIR=_JAX_CACHE, JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                      JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")

# huggingface_hub reads HF_HUB_OFFLINE, HF_ENDPOINT, ... once, when first imported: import it
# now, so a test that sets one of them temporarily cannot freeze it for the whole session.
import huggingface_hub.constants  # noqa: E402,F401
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def keras_backend():
    import keras

    return keras.backend.backend()


@pytest.fixture(scope="module")
def generator_weights_and_images(tmp_path_factory):
    """An untrained SNDCGAN generator's weights (as a run folder holds them) and a folder of 12
    random 32x32 PNG images: the inputs of `ganzoo eval --generator-weights` tests."""
    from PIL import Image

    from ganzoo.architectures import build_generator

    tmp = tmp_path_factory.mktemp("eval")
    weights = tmp / "mine.generator.weights.h5"
    build_generator("sndcgan", resolution=32).save_weights(str(weights))
    real = tmp / "real"
    real.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(real / f"{i:02d}.png")
    return weights, real


@pytest.fixture
def optimised_xla():
    """JAX: XLA's optimisation passes on for one test (the setting above turns them off). For a
    test that runs its compiled programs often or on large batches (a sweep's trials, FID's
    thousands of samples), unoptimised code costs more than the compile saves: 2049 samples of
    an 8x8 SNDCGAN take about 4 s a batch of 256 without the passes, 0.4 s with them."""
    import keras

    if keras.backend.backend() != "jax":
        yield
        return
    import jax

    before = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", False)
    try:
        yield
    finally:
        jax.config.update("jax_disable_most_optimizations", before)


def pytest_runtest_setup(item):
    # Process and file logic (locks, sweep workers, study scripts) is the same on every backend and
    # its tests are among the slowest: run once, in the TensorFlow pass. Numerics and backend
    # plumbing (steps, fit, save/load, resume) are tested on both.
    if item.get_closest_marker("backend_neutral") and keras_backend() != "tensorflow":
        pytest.skip("backend-neutral logic: runs once, in the TensorFlow pass")


def pytest_sessionfinish(session, exitstatus):
    if _JAX_CACHE:
        import shutil

        shutil.rmtree(_JAX_CACHE, ignore_errors=True)
