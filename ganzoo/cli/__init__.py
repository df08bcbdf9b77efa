"""The `ganzoo` command line."""
import os

# What TensorFlow reads once, when it loads, for a run to be reproducible bit for bit (see
# ganzoo.backend.tensorflow.enable_determinism): no oneDNN kernels, one thread of each kind.
DETERMINISTIC_ENVIRONMENT = {"TF_ENABLE_ONEDNN_OPTS": "0", "TF_NUM_INTRAOP_THREADS": "1",
                             "TF_NUM_INTEROP_THREADS": "1"}


def prepare_training_environment(args):
    """Before anything imports TensorFlow: `train --deterministic` sets DETERMINISTIC_ENVIRONMENT.

    `args` are the train flags (absl spellings: --deterministic, --deterministic=true,
    --nodeterministic; the last one wins).
    """
    deterministic = False
    for arg in args:
        name, _, value = arg.lstrip("-").partition("=")
        if name == "deterministic":
            deterministic = value.lower() in ("", "true", "t", "1", "yes", "y")
        elif name == "nodeterministic" and not value:
            deterministic = False
    if deterministic:
        os.environ.update(DETERMINISTIC_ENVIRONMENT)
    return deterministic
