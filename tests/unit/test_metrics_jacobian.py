"""The jacobian metric (generator conditioning, Odena et al. 2018) against independent
computations: closed forms of linear generators and float64 finite differences in NumPy."""
import keras
import numpy as np
import pytest

from ganzoo.architectures.base import sample_noise
from ganzoo.metrics import evaluator, jacobian


def _linear(rng, z_dim=5, out=7, batch_norm=False):
    layers = [keras.Input((z_dim,)), keras.layers.Dense(out)]
    if batch_norm:
        layers.append(keras.layers.BatchNormalization())
    model = keras.Sequential(layers)
    w = rng.normal(size=(z_dim, out)).astype("float32")
    model.layers[0].set_weights([w, rng.normal(size=out).astype("float32")])
    return model, w


def test_linear_generator_jacobian_is_its_matrix(rng):
    model, w = _linear(rng)
    z = rng.uniform(-1, 1, size=(6, 5)).astype("float32")
    for batch_size in (1, 12, 20, 256):  # one z per pass, two, four (the last padded), all
        jac = np.concatenate(list(jacobian.jacobians(model, z, batch_size)))
        assert jac.shape == (6, 7, 5)
        np.testing.assert_allclose(jac, np.broadcast_to(w.T, jac.shape), rtol=1e-6, atol=1e-6)
    expected = np.linalg.svd(w.astype(np.float64), compute_uv=False)
    np.testing.assert_allclose(jacobian.singular_values(model, z), np.tile(expected, (6, 1)),
                               rtol=1e-5)


def test_batch_norm_in_inference_mode(rng):
    # Moving statistics, not the batch's: J = diag(gamma / sqrt(var + eps)) W^T for every z.
    model, w = _linear(rng, batch_norm=True)
    gamma, beta = rng.uniform(0.5, 2, 7), rng.normal(size=7)
    mean, var = rng.normal(size=7), rng.uniform(0.5, 3, 7)
    model.layers[1].set_weights([a.astype("float32") for a in (gamma, beta, mean, var)])
    scale = gamma / np.sqrt(var + model.layers[1].epsilon)
    z = rng.uniform(-1, 1, size=(3, 5)).astype("float32")
    jac = np.concatenate(list(jacobian.jacobians(model, z)))
    np.testing.assert_allclose(jac, np.broadcast_to(scale[:, None] * w.T, jac.shape), rtol=1e-5)


def _mlp(rng):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(6, activation="tanh"),
                              keras.layers.Dense(10, activation="sigmoid")])
    weights = [rng.normal(size=v.shape).astype("float32") for v in model.weights]
    model.set_weights(weights)
    return model, [w.astype(np.float64) for w in weights]


def _numpy_forward(weights, z):
    w1, b1, w2, b2 = weights
    return 1.0 / (1.0 + np.exp(-(np.tanh(z @ w1 + b1) @ w2 + b2)))


def test_nonlinear_generator_against_central_differences(rng):
    model, weights = _mlp(rng)
    model.z_dim = 3
    values = jacobian.generator_conditioning(model, num_z=4, seed=7, batch_size=6)
    z = sample_noise(4, 3, seed=7).astype(np.float64)
    eps = 1e-6
    expected = []
    for zi in z:
        columns = [(_numpy_forward(weights, zi + eps * e) - _numpy_forward(weights, zi - eps * e))
                   / (2 * eps) for e in np.eye(3)]
        jac = np.stack(columns, axis=1)  # (10, 3)
        np.testing.assert_allclose(
            next(jacobian.jacobians(model, zi[None].astype("float32"))), jac[None], atol=2e-6)
        expected.append(np.linalg.svd(jac, compute_uv=False))
    expected = np.array(expected)
    np.testing.assert_allclose(values["jacobian_sigma_max_per_z"], expected[:, 0], rtol=1e-4)
    np.testing.assert_allclose(values["jacobian_sigma_min_per_z"], expected[:, -1], rtol=1e-4)
    log_condition = np.log(expected[:, 0] / expected[:, -1])
    np.testing.assert_allclose(values["jacobian_log_condition_per_z"], log_condition, rtol=1e-4)
    assert values["jacobian_log_condition"] == pytest.approx(log_condition.mean(), rel=1e-4)
    assert values["jacobian_sigma_max"] == pytest.approx(expected[:, 0].mean(), rel=1e-4)


def test_evaluator_and_zoo_protocol(rng):
    model, _ = _mlp(rng)
    ev = evaluator.Evaluator(metrics=("jacobian",), jacobian_z=5, progress=False)
    result = ev.evaluate(model, seed=3)  # no real images, no image pass
    assert len(result["metrics"]["jacobian_log_condition_per_z"]) == 5
    assert result["protocol"]["n_jacobian_z"] == 5 and result["protocol"]["n_generated"] == 0
    assert "forward-mode" in result["protocol"]["jacobian"]
    text = evaluator.format_result(result)
    assert "jacobian_log_condition" in text and "5 values" in text
    record = evaluator.evaluate_zoo_model("mlp", metrics=["jacobian"], sample_sets=2, seed=3,
                                          generator=model, entry={"dataset": "cifar10"},
                                          jacobian_z=5, progress=False)
    summary = record["metrics"]["jacobian_log_condition"]
    assert summary["values"][0] == pytest.approx(result["metrics"]["jacobian_log_condition"])
    assert record["protocol"]["seeds"] == [3, 4]
    assert "jacobian" in evaluator.format_record(record)


def test_bad_inputs():
    with pytest.raises(ValueError, match="jacobian"):
        evaluator.Evaluator(metrics=("jacobians",))
    with pytest.raises(ValueError, match="jacobian_z must be a positive integer"):
        evaluator.Evaluator(metrics=("jacobian",), jacobian_z=0)
    images = np.zeros((4, 8, 8, 3), "float32")
    with pytest.raises(ValueError, match="needs the generator model itself"):
        evaluator.Evaluator(metrics=("jacobian",), progress=False).evaluate(images)
    with pytest.raises(ValueError, match="num_z >= 1"):
        jacobian.generator_conditioning(lambda z: z, num_z=0)


def test_ganzoo_eval_jacobian_z(generator_weights_and_images, tmp_path, capsys):
    import json

    from ganzoo.cli import main as cli

    weights, _ = generator_weights_and_images
    out = tmp_path / "record.json"
    assert cli.main(["eval", "--generator-weights", str(weights), "--architecture", "sndcgan",
                     "--metrics", "jacobian", "--jacobian-z", "3", "--sample-sets", "1",
                     "--out", str(out), "--no-progress"]) == 0
    record = json.loads(out.read_text())
    assert record["protocol"]["n_jacobian_z"] == 3 and "3 z" in record["protocol"]["jacobian"]
    capsys.readouterr()
    assert cli.main(["eval", "--generator-weights", str(weights), "--architecture", "sndcgan",
                     "--metrics", "jacobian", "--jacobian-z", "0", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "ganzoo eval: error: --jacobian-z must be at least 1" in err and "Traceback" not in err
