"""Generator conditioning (Odena et al., "Is generator conditioning causally related to GAN
performance?", ICML 2018): the singular values of G's input-output Jacobian dG(z)/dz at sampled
z, and its condition number sigma_max / sigma_min.

    values = generator_conditioning(generator, num_z=64, seed=0)
    values["jacobian_log_condition"]           # mean over z of log(sigma_max / sigma_min)

The Jacobians are exact (forward-mode autodiff on either backend, ganzoo.backend.jacobian). Each
z is repeated z_dim times and pushed forward with the unit tangents e_1 .. e_zdim in one batch,
so one forward pass gives every column of dG/dz for several z. This needs the outputs of one z
to depend on that z only, which holds in inference mode (batch norm uses its moving statistics);
the generator is always called with training=False. Images are the generator's, in [0, 1].
"""
import numpy as np

from ganzoo.architectures.base import sample_noise


def _z_dim(generator):
    z_dim = getattr(generator, "z_dim", None)
    if z_dim is None:
        shape = getattr(generator, "input_shape", None)
        z_dim = shape[-1] if isinstance(shape, tuple) and len(shape) == 2 else None
    if not callable(generator) or z_dim is None:
        raise ValueError(
            "the jacobian metric needs the generator model itself (a keras.Model mapping z of "
            f"shape (N, z_dim) to images, with a z_dim attribute or a 2-D input shape); got "
            f"{type(generator).__name__}"
        )
    return int(z_dim)


def jacobians(generator, z, batch_size=256):
    """Yields dG(z_i)/dz_i as float64 arrays of shape (n, outputs, z_dim), a few z at a time
    (batch_size generator inputs per forward pass, at least z_dim)."""
    from keras import ops

    from ganzoo.backend.jacobian import jvp_function

    z = np.asarray(z, dtype="float32")
    z_dim = z.shape[1]
    per_pass = max(1, min(int(batch_size) // z_dim, len(z)))
    tangents = np.tile(np.eye(z_dim, dtype="float32"), (per_pass, 1))  # e_1 .. e_zdim per z
    push = jvp_function(lambda x: generator(x, training=False))
    for start in range(0, len(z), per_pass):
        chunk = z[start:start + per_pass]
        n = len(chunk)
        # The last chunk is padded to the same shape, so the function compiles once.
        padded = np.concatenate([chunk, np.repeat(chunk[-1:], per_pass - n, axis=0)])
        columns = ops.convert_to_numpy(push(np.repeat(padded, z_dim, axis=0), tangents))
        columns = columns.astype(np.float64).reshape(per_pass, z_dim, -1)[:n]
        yield np.transpose(columns, (0, 2, 1))


def singular_values(generator, z, batch_size=256, progress=False):
    """(N, z_dim) singular values of dG/dz at each row of z, largest first."""
    from ganzoo.metrics.batches import _progress_batches

    chunks = _progress_batches(jacobians(generator, z, batch_size), len(z),
                               "generator Jacobians (one per z)", progress)
    return np.concatenate([np.linalg.svd(j, compute_uv=False) for j in chunks])


def generator_conditioning(generator, num_z=64, seed=0, batch_size=256, progress=False):
    """The jacobian metric's values (the evaluator's record shape): means over num_z z's drawn
    as the generator's noise (U(-1, 1), seeded), and the per-z values as lists."""
    if int(num_z) != num_z or num_z < 1:
        raise ValueError(f"the jacobian metric needs num_z >= 1 latent samples; got {num_z!r}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}")
    z_dim = _z_dim(generator)
    sigma = singular_values(generator, sample_noise(int(num_z), z_dim, seed), batch_size,
                            progress)
    top, bottom = sigma[:, 0], sigma[:, -1]
    with np.errstate(divide="ignore"):  # a zero singular value: infinite condition number
        log_condition = np.log(top) - np.log(bottom)
    return {
        "jacobian_log_condition": float(np.mean(log_condition)),
        "jacobian_log_condition_std": float(np.std(log_condition)),
        "jacobian_sigma_max": float(np.mean(top)),
        "jacobian_sigma_min": float(np.mean(bottom)),
        "jacobian_log_condition_per_z": [float(v) for v in log_condition],
        "jacobian_sigma_max_per_z": [float(v) for v in top],
        "jacobian_sigma_min_per_z": [float(v) for v in bottom],
    }


def protocol(num_z, z_dim=None):
    """How the numbers were computed, for the evaluator's protocol record."""
    from ganzoo.backend.jacobian import BACKEND

    space = f"U(-1, 1)^{z_dim}" if z_dim else "U(-1, 1)"
    return (f"dG(z)/dz of the generator's [0, 1] output at {num_z} z ~ {space} (the sample "
            f"seed), inference mode, exact forward-mode autodiff on {BACKEND}; log condition = "
            "ln(sigma_max / sigma_min); sigma_max / sigma_min: means over z")
