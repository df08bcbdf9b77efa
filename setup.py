"""ganzoo: the GAN Landscape model zoo for Keras 3."""
import pathlib
import re

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (HERE / "ganzoo" / "__init__.py").read_text()
).group(1)

# Keras is pinned: published .weights.h5 keys follow Keras' attribute paths and
# the stateless train_step relies on 3.15's JAX trainer state layout.
INSTALL_REQUIRES = [
    "keras==3.15.1",
    "numpy>=1.26",
    "scipy>=1.11",
    "h5py>=3.10",
    "pillow>=10",
    "absl-py>=2.1",
    "huggingface_hub>=0.30",
    "tqdm>=4.66",
]
EXTRAS = {
    "tensorflow": ["tensorflow>=2.18,<2.22", "tensorflow-datasets>=4.9"],
    "jax": ["jax[cpu]>=0.4.30"],
    "torch": ["torch==2.13.0"],
    "figures": ["matplotlib>=3.8"],
    # `ganzoo sweep`: Optuna (SQLAlchemy comes with it) and the PostgreSQL driver SQLAlchemy 2.1
    # uses for postgresql:// URLs; the gp sampler also needs torch and scipy.
    "sweep": ["optuna>=4.9", "psycopg[binary]>=3.1", "matplotlib>=3.8"],
    "dev": ["pytest>=8", "pytest-xdist>=3.5", "jsonschema>=4", "tensorflow-datasets>=4.9", "matplotlib>=3.8",
            "optuna>=4.9", "psycopg[binary]>=3.1"],
}
EXTRAS["all"] = sorted({r for k in ("tensorflow", "jax", "dev") for r in EXTRAS[k]})

setup(
    name="ganzoo",
    version=VERSION,
    description="The GAN Landscape (Kurach et al.) as a Keras 3 model zoo with pretrained weights",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["ganzoo", "ganzoo.*"]),
    package_data={"ganzoo": ["*.json", "zoo/*.json"]},
    # The zoo manifest lives at the top of the checkout; regular installs get a copy here
    # (ganzoo.zoo.manifest looks in <prefix>/share/ganzoo/).
    data_files=[("share/ganzoo", ["weights_manifest.json"])],
    python_requires=">=3.10",
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["ganzoo=ganzoo.cli.main:main"]},
)
