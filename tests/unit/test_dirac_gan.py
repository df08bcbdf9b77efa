"""Dirac-GAN (ganzoo.analysis.dirac_gan) against closed forms written out here independently."""
import numpy as np
import pytest

from ganzoo.analysis import dirac_gan as dg

RNG = np.random.default_rng(0)
THETA, PSI = RNG.normal(size=20) * 2, RNG.normal(size=20) * 2


def _logistic_slope(t):
    # f(t) = -log(1 + exp(-t))  =>  f'(t) = exp(-t) / (1 + exp(-t)) = 1 / (1 + exp(t))
    return 1.0 / (1.0 + np.exp(t))


def test_fields_match_closed_forms():
    s = _logistic_slope(PSI * THETA)
    np.testing.assert_allclose(dg.vector_field("gan", THETA, PSI), (-PSI * s, THETA * s),
                               rtol=1e-12)
    np.testing.assert_allclose(dg.vector_field("wgan", THETA, PSI), (-PSI, THETA))
    np.testing.assert_allclose(dg.vector_field("r1", THETA, PSI, gamma=0.7),
                               (-PSI * s, THETA * s - 0.7 * PSI), rtol=1e-12)
    np.testing.assert_allclose(dg.vector_field("r2", THETA, PSI, gamma=0.7),
                               dg.vector_field("r1", THETA, PSI, gamma=0.7))
    # gamma/2 (|psi| - 1)^2 has derivative gamma (|psi| - 1) sign(psi)
    np.testing.assert_allclose(dg.vector_field("wgan_gp", THETA, PSI, gamma=2.0),
                               (-PSI, THETA - 2.0 * (np.abs(PSI) - 1) * np.sign(PSI)))


def test_instance_noise_field_against_direct_integration():
    # E over eps ~ N(0, sigma^2) by a fine Riemann sum over +-10 sigma, not by quadrature nodes.
    sigma = 0.8
    eps = np.linspace(-10 * sigma, 10 * sigma, 200001)
    density = np.exp(-0.5 * (eps / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
    de = eps[1] - eps[0]
    for theta, psi in [(0.7, -1.3), (-1.5, 0.4), (0.0, 2.0)]:
        fake = theta + eps
        v_theta = -psi * np.sum(density * _logistic_slope(psi * fake)) * de
        # L = E f(psi (theta + eps)) + E f(-psi eps); d/dpsi of the second is -E eps f'(-psi eps)
        v_psi = np.sum(density * (fake * _logistic_slope(psi * fake)
                                  - eps * _logistic_slope(-psi * eps))) * de
        np.testing.assert_allclose(dg.vector_field("instance_noise", theta, psi, sigma=sigma),
                                   (v_theta, v_psi), rtol=1e-8, atol=1e-12)


def test_jacobians_and_eigenvalues_at_the_equilibrium():
    jac, ok = dg.field_jacobian("gan")
    assert ok
    np.testing.assert_allclose(jac, [[0, -0.5], [0.5, 0]], atol=1e-8)  # f'(0) = 1/2
    np.testing.assert_allclose(sorted(np.linalg.eigvals(jac).imag), [-0.5, 0.5], atol=1e-8)
    np.testing.assert_allclose(np.linalg.eigvals(jac).real, 0, atol=1e-8)
    # Instance noise: [[0, -f'(0)], [f'(0), 2 sigma^2 f''(0)]] with f''(0) = -1/4.
    jac, _ = dg.field_jacobian("instance_noise", sigma=1.3)
    np.testing.assert_allclose(jac, [[0, -0.5], [0.5, -0.5 * 1.3 ** 2]], atol=1e-7)
    for method in ("r1", "r2"):
        jac, _ = dg.field_jacobian(method, gamma=0.3)
        np.testing.assert_allclose(jac, [[0, -0.5], [0.5, -0.3]], atol=1e-8)
        assert np.all(np.linalg.eigvals(jac).real < 0)
        assert dg.continuous_verdict(np.linalg.eigvals(jac)).startswith("converges")
    # WGAN-GP: v_psi jumps from -gamma to +gamma across psi = 0, there is no Jacobian.
    assert not dg.field_jacobian("wgan_gp")[1]


def test_update_operators():
    h, a = 0.1, 0.5
    jac, _ = dg.field_jacobian("gan")
    # Simultaneous: eigenvalues 1 + h lambda = 1 +- i h/2, modulus sqrt(1 + h^2/4) > 1.
    radius = np.max(np.abs(np.linalg.eigvals(dg.update_jacobian(jac, h))))
    assert radius == pytest.approx(np.sqrt(1 + (h * a) ** 2), abs=1e-8) and radius > 1
    # Alternating (psi first, then theta with the new psi): [[1 - h^2 a^2, -h a], [h a, 1]],
    # determinant 1 and complex eigenvalues: both on the unit circle.
    alt = dg.update_jacobian(jac, h, "alternating")
    np.testing.assert_allclose(alt, [[1 - (h * a) ** 2, -h * a], [h * a, 1]], atol=1e-8)
    np.testing.assert_allclose(np.abs(np.linalg.eigvals(alt)), 1, atol=1e-8)
    # The operator is the Jacobian of step() itself (here with two discriminator steps).
    jac, _ = dg.field_jacobian("r1", gamma=0.5)
    op = dg.update_jacobian(jac, 0.2, "alternating", n_disc=2)
    fd = np.zeros((2, 2))
    for j in range(2):
        e = np.eye(2)[j] * 1e-6
        plus = dg.step("r1", e, 0.2, "alternating", 2, gamma=0.5)
        minus = dg.step("r1", -e, 0.2, "alternating", 2, gamma=0.5)
        fd[:, j] = (np.array(plus) - np.array(minus)) / 2e-6
    np.testing.assert_allclose(op, fd, atol=1e-7)


def test_trajectories():
    # WGAN, unclipped, alternating: psi' = psi + h theta, theta' = theta - h psi'.
    path = dg.trajectory("wgan", (1.0, 0.5), 0.1, 3, "alternating", clip=None)
    theta, psi = 1.0, 0.5
    for k in range(1, 4):
        psi = psi + 0.1 * theta
        theta = theta - 0.1 * psi
        np.testing.assert_allclose(path[k], (theta, psi), rtol=1e-14)
    start = np.hypot(1, 1)
    r1 = dg.trajectory("r1", (1, 1), 0.1, 1500, gamma=0.3)
    assert np.linalg.norm(r1[-1]) < 1e-6 * start
    gan = dg.trajectory("gan", (1, 1), 0.1, 1500)
    assert np.linalg.norm(gan[-1]) > 1.5 * start  # spirals away
    alt = np.linalg.norm(dg.trajectory("gan", (1, 1), 0.1, 1500, "alternating"), axis=1)
    assert np.all(np.abs(alt - start) < 0.1 * start)  # stays on its orbit
    assert dg.trajectory_verdict(dg.trajectory("gan", (1, 1), 0.1, 1500, "alternating")) == \
        "circles"


def test_table_verdicts_reproduce_the_paper():
    rows = {(r["method"], r["update"]): r for r in dg.convergence_table(h=0.1, steps=1500)}
    assert rows["gan", "simultaneous"]["discrete"].startswith("diverges")
    assert rows["gan", "simultaneous"]["trajectory"] == "diverges"
    assert rows["gan", "alternating"]["spectral_radius"] == pytest.approx(1, abs=1e-9)
    assert rows["wgan", "simultaneous"]["trajectory"] != "converges"
    for update in dg.UPDATES:
        assert rows["wgan_gp", update]["trajectory"] != "converges"
        for method in ("instance_noise", "r1", "r2"):
            assert rows[method, update]["discrete"].startswith("converges")
            assert rows[method, update]["trajectory"] == "converges"
            assert rows[method, update]["stable_h"] > 0.1
    assert "| R1 (gamma=0.3) | alternating |" in dg.format_markdown(list(rows.values()))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="choose from gan, wgan, wgan_gp"):
        dg.vector_field("lsgan", 0.0, 0.0)
    with pytest.raises(ValueError, match="takes: gamma"):
        dg.vector_field("r1", 0.0, 0.0, sigma=1.0)
    with pytest.raises(ValueError, match="choose from simultaneous, alternating"):
        dg.trajectory("gan", update="jacobi")
    with pytest.raises(ValueError, match="gamma must be"):
        dg.trajectory("r1", gamma=-1.0)
    with pytest.raises(ValueError, match="step size"):
        dg.trajectory("gan", h=0.0)
