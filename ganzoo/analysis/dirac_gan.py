"""The Dirac-GAN of Mescheder, Geiger and Nowozin, "Which training methods for GANs do actually
converge?" (ICML 2018): the exact two-parameter game, its gradient vector fields, simultaneous
and alternating gradient descent, and the eigenvalues that decide local convergence.

The data distribution is a Dirac at 0, the generator p_theta a Dirac at theta, the
discriminator D(x) = psi * x. The objective

    L(theta, psi) = f(psi * theta) + f(0)

is minimised by the generator and maximised by the discriminator; f(t) = -log(1 + exp(-t)) for
the unregularised GAN, f(t) = t for the WGAN. The gradient vector field is
v = (-dL/dtheta, dL/dpsi) plus the discriminator's regulariser; the equilibrium is (0, 0).

    v = vector_field("r1", theta, psi, gamma=0.3)
    J, differentiable = field_jacobian("r1", gamma=0.3)        # at (0, 0), central differences
    path = trajectory("gan", start=(1, 1), h=0.1, steps=2000, update="alternating")
    rows = convergence_table(h=0.1, steps=2000)                  # eigenvalues and trajectories

Methods (METHODS) and their parameters (DEFAULT_PARAMS):
- gan: unregularised, v = (-psi f'(psi theta), theta f'(psi theta)).
- wgan: f(t) = t; the discriminator's Lipschitz constraint |psi| <= clip is kept by clipping
  psi after each discriminator update, as WGAN's weight clipping (clip=None: unconstrained).
- wgan_gp: WGAN with gamma/2 (|psi| - g0)^2 subtracted from the discriminator's objective
  (grad_x D = psi everywhere, so the penalty at interpolates is this).
- instance_noise: Gaussian noise N(0, sigma^2) added to real and generated samples; the
  expectation over the noise is computed by Gauss-Hermite quadrature (exact to ~1e-12 here).
- r1, r2: zero-centred gradient penalties gamma/2 E|grad_x D|^2 on real (r1) or generated (r2)
  samples; both are gamma/2 psi^2 in the Dirac-GAN, so their fields coincide.

Pure NumPy functions; no Keras.
"""
import math

import numpy as np

METHODS = ("gan", "wgan", "wgan_gp", "instance_noise", "r1", "r2")
UPDATES = ("simultaneous", "alternating")
DEFAULT_PARAMS = {
    "gan": {},
    "wgan": {"clip": 1.0},
    "wgan_gp": {"gamma": 1.0, "g0": 1.0},
    "instance_noise": {"sigma": 1.0},
    "r1": {"gamma": 0.3},
    "r2": {"gamma": 0.3},
}
LABELS = {
    "gan": "unregularised GAN",
    "wgan": "WGAN",
    "wgan_gp": "WGAN-GP",
    "instance_noise": "instance noise",
    "r1": "R1",
    "r2": "R2",
}
_HERMITE = np.polynomial.hermite.hermgauss(61)  # nodes and weights for E over N(0, sigma^2)


def gan_fprime(t):
    """f'(t) of f(t) = -log(1 + exp(-t)): 1 / (1 + exp(t)), written with tanh to never overflow."""
    return 0.5 * (1.0 - np.tanh(0.5 * np.asarray(t, dtype=np.float64)))


def check_method(method, params=None):
    """The method's parameters: its defaults updated by `params`; clear errors for bad names."""
    if method not in METHODS:
        raise ValueError(f"unknown Dirac-GAN method {method!r}; choose from {', '.join(METHODS)}")
    merged = dict(DEFAULT_PARAMS[method])
    unknown = sorted(set(params or {}) - set(merged))
    if unknown:
        allowed = ", ".join(merged) or "none"
        raise ValueError(f"{method}: unknown parameters {unknown}; it takes: {allowed}")
    merged.update(params or {})
    for name in ("gamma", "sigma", "g0"):
        if name in merged and not (np.isfinite(merged[name]) and merged[name] >= 0):
            raise ValueError(f"{method}: {name} must be a finite number >= 0; got {merged[name]!r}")
    if merged.get("clip") is not None and not merged["clip"] > 0:
        raise ValueError(f"{method}: clip must be > 0 or None; got {merged['clip']!r}")
    return merged


def _check_update(update, n_disc):
    if update not in UPDATES:
        raise ValueError(f"unknown update {update!r}; choose from {', '.join(UPDATES)}")
    if int(n_disc) != n_disc or n_disc < 1:
        raise ValueError(f"n_disc must be a positive integer; got {n_disc!r}")
    return int(n_disc)


def vector_field(method, theta, psi, **params):
    """(v_theta, v_psi) at arrays theta, psi (broadcast): the generator's negative gradient and
    the discriminator's gradient of its (regularised) objective."""
    p = check_method(method, params)
    theta = np.asarray(theta, dtype=np.float64)
    psi = np.asarray(psi, dtype=np.float64)
    if method in ("wgan", "wgan_gp"):
        v_theta, v_psi = -psi + 0.0 * theta, theta + 0.0 * psi
        if method == "wgan_gp":
            v_psi = v_psi - p["gamma"] * np.sign(psi) * (np.abs(psi) - p["g0"])
        return v_theta, v_psi
    if method == "instance_noise":
        nodes, weights = _HERMITE
        eps = math.sqrt(2.0) * p["sigma"] * nodes  # E[g(eps)] = sum(w g(eps)) / sqrt(pi)
        w = weights / math.sqrt(math.pi)
        fake = theta[..., None] + eps  # the noisy generated sample theta + eps
        slope = gan_fprime(psi[..., None] * fake)
        v_theta = -psi * np.sum(w * slope, axis=-1)
        # d/dpsi E f(-psi eps) = E[eps f'(psi eps)] by the symmetry of eps.
        v_psi = np.sum(w * (fake * slope + eps * gan_fprime(psi[..., None] * eps)), axis=-1)
        return v_theta, v_psi
    slope = gan_fprime(psi * theta)
    v_theta, v_psi = -psi * slope, theta * slope
    if method in ("r1", "r2"):
        v_psi = v_psi - p["gamma"] * psi  # d/dpsi of gamma/2 psi^2
    return v_theta, v_psi


def field_jacobian(method, point=(0.0, 0.0), eps=1e-6, **params):
    """(J, differentiable): the 2x2 Jacobian of the vector field at `point` by central
    differences; `differentiable` is False where v has a kink (one-sided differences disagree)
    or a jump (the difference quotient grows as the step shrinks), e.g. WGAN-GP's sign(psi) at
    psi = 0; J is then meaningless."""
    check_method(method, params)
    x = np.asarray(point, dtype=np.float64)
    here = np.array(vector_field(method, *x, **params))

    def columns(delta):
        central, forward, backward = np.zeros((2, 2)), np.zeros((2, 2)), np.zeros((2, 2))
        for j in range(2):
            e = np.zeros(2)
            e[j] = delta
            plus = np.array(vector_field(method, *(x + e), **params))
            minus = np.array(vector_field(method, *(x - e), **params))
            central[:, j] = (plus - minus) / (2 * delta)
            forward[:, j], backward[:, j] = (plus - here) / delta, (here - minus) / delta
        return central, forward, backward

    central, forward, backward = columns(eps)
    coarse = columns(8 * eps)[0]
    scale = 1.0 + np.max(np.abs(coarse))
    # Smooth fields: these agree to O(eps |v''|) (~1e-6); a kink or a jump gives O(1) or more.
    differentiable = (np.max(np.abs(forward - backward)) < 1e-3 * scale
                      and np.max(np.abs(central - coarse)) < 1e-3 * scale)
    return central, bool(differentiable)


def update_jacobian(jacobian, h, update="simultaneous", n_disc=1):
    """The Jacobian at a fixed point of one generator step of gradient descent with step h.

    simultaneous: x <- x + h v(x), so I + h J. alternating: n_disc discriminator steps on psi,
    then one generator step on theta with the new psi: (I + h J_G) (I + h J_D)^n_disc, where
    J_D keeps J's psi row and J_G its theta row.
    """
    n_disc = _check_update(update, n_disc)
    jacobian = np.asarray(jacobian, dtype=np.float64)
    eye = np.eye(2)
    if update == "simultaneous":
        return eye + h * jacobian
    disc, gen = np.zeros((2, 2)), np.zeros((2, 2))
    disc[1], gen[0] = jacobian[1], jacobian[0]
    return (eye + h * gen) @ np.linalg.matrix_power(eye + h * disc, n_disc)


def step(method, state, h, update="simultaneous", n_disc=1, **params):
    """One generator step (and its discriminator steps) from state (theta, psi)."""
    p = check_method(method, params)
    n_disc = _check_update(update, n_disc)
    clip = p.get("clip")
    theta, psi = (float(s) for s in state)
    if update == "simultaneous":
        v_theta, v_psi = vector_field(method, theta, psi, **params)
        theta, psi = theta + h * float(v_theta), psi + h * float(v_psi)
        if clip is not None:
            psi = min(max(psi, -clip), clip)
        return theta, psi
    for _ in range(n_disc):
        psi = psi + h * float(vector_field(method, theta, psi, **params)[1])
        if clip is not None:
            psi = min(max(psi, -clip), clip)
    theta = theta + h * float(vector_field(method, theta, psi, **params)[0])
    return theta, psi


def trajectory(method, start=(1.0, 1.0), h=0.1, steps=1000, update="simultaneous", n_disc=1,
               **params):
    """(steps + 1, 2) array of (theta, psi) from `start`, one row per generator step."""
    check_method(method, params)
    _check_update(update, n_disc)
    if not h > 0:
        raise ValueError(f"the step size h must be > 0; got {h!r}")
    if int(steps) != steps or steps < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}")
    path = np.empty((int(steps) + 1, 2))
    path[0] = start
    state = tuple(path[0])
    for k in range(1, int(steps) + 1):
        state = step(method, state, h, update, n_disc, **params)
        path[k] = state
        if not np.all(np.isfinite(path[k])):
            path[k:] = np.nan  # diverged to overflow: the rest is undefined
            break
    return path


# --------------------------------------------------------------------------------------------
# Verdicts, from eigenvalues and from trajectories
# --------------------------------------------------------------------------------------------

_TOL = 1e-7  # finite-difference Jacobians are exact to ~1e-10 here


def continuous_verdict(eigenvalues):
    """The continuous system x' = v(x) near the equilibrium, from the eigenvalues of J."""
    top = float(np.max(np.real(eigenvalues)))
    if top < -_TOL:
        return "converges (Re < 0)"
    if top > _TOL:
        return "diverges (Re > 0)"
    return "circles (Re = 0)"


def discrete_verdict(radius):
    """Gradient descent near the equilibrium, from the spectral radius of its update operator."""
    if radius < 1 - _TOL:
        return "converges (rho < 1)"
    if radius > 1 + _TOL:
        return "diverges (rho > 1)"
    return "circles (rho = 1)"


def trajectory_verdict(path, converged=1e-3):
    """From a simulated path: "converges" if the final distance to (0, 0) is below `converged`
    x the starting distance; "diverges" if its last quarter reaches 5% farther out than its
    first quarter did; "circles" if over its second half it stays away from (0, 0) and winds
    around it at least once."""
    distances = np.linalg.norm(path, axis=1)
    start, final = distances[0], distances[-1]
    quarter = max(1, len(path) // 4)
    # Maxima, not end points: a bounded orbit need not be at its widest when the run stops.
    if not np.isfinite(final) or np.max(distances[-quarter:]) > 1.05 * np.max(
            distances[:quarter]):
        return "diverges"
    if final < converged * start:
        return "converges"
    half = path[len(path) // 2:]
    turns = abs(np.sum(np.diff(np.unwrap(np.arctan2(half[:, 1], half[:, 0]))))) / (2 * np.pi)
    return "circles" if turns >= 1 else "does not converge"


def largest_stable_step(jacobian, update="simultaneous", n_disc=1, grid=None):
    """The largest h of `grid` such that every grid step up to it has spectral radius < 1
    (0.0 if even the smallest does not): how small "small enough h" has to be."""
    grid = np.geomspace(1e-3, 10.0, 401) if grid is None else np.asarray(grid)
    best = 0.0
    for h in grid:
        radius = np.max(np.abs(np.linalg.eigvals(update_jacobian(jacobian, h, update, n_disc))))
        if radius >= 1 - _TOL:
            break
        best = float(h)
    return best


def analyse(method, update="simultaneous", h=0.1, steps=2000, start=(1.0, 1.0), n_disc=1,
            **params):
    """One row of the convergence table: eigenvalues, spectral radius, trajectory, verdicts."""
    merged = check_method(method, params)
    jacobian, differentiable = field_jacobian(method, **params)
    row = {"method": method, "update": update, "params": merged, "h": h, "n_disc": n_disc,
           "steps": steps, "start": tuple(float(s) for s in start),
           "differentiable": differentiable}
    if differentiable:
        eig = np.linalg.eigvals(jacobian)
        op_eig = np.linalg.eigvals(update_jacobian(jacobian, h, update, n_disc))
        radius = float(np.max(np.abs(op_eig)))
        row.update(jacobian=jacobian, eigenvalues=eig, operator_eigenvalues=op_eig,
                   spectral_radius=radius, continuous=continuous_verdict(eig),
                   discrete=discrete_verdict(radius),
                   stable_h=largest_stable_step(jacobian, update, n_disc))
    else:
        reason = "no Jacobian: v not differentiable at (0, 0)"
        row.update(jacobian=None, eigenvalues=None, operator_eigenvalues=None,
                   spectral_radius=None, continuous=reason, discrete=reason, stable_h=None)
    path = trajectory(method, start, h, steps, update, n_disc, **params)
    row.update(path=path, final_distance=float(np.linalg.norm(path[-1])),
               trajectory=trajectory_verdict(path))
    return row


def convergence_table(h=0.1, steps=2000, start=(1.0, 1.0), methods=METHODS, updates=UPDATES,
                      params=None):
    """analyse() for every method and update; params: {method: {name: value}} overrides."""
    params = params or {}
    unknown = sorted(set(params) - set(METHODS))
    if unknown:
        raise ValueError(f"params for unknown methods {unknown}; choose from {', '.join(METHODS)}")
    return [analyse(m, u, h, steps, start, **params.get(m, {})) for m in methods for u in updates]


def _complex(values):
    def one(z):
        if abs(z.imag) < 1e-12:
            return f"{z.real:.4g}"
        return f"{z.real:.4g} {'+' if z.imag >= 0 else '-'} {abs(z.imag):.4g}i"

    return ", ".join(one(complex(z)) for z in values)


def format_markdown(rows):
    """The convergence table as Markdown, one row per (method, update)."""
    header = ("| method | update | eigenvalues of J at (0, 0) | continuous system | "
              "eigenvalues of the update | spectral radius | GD (eigenvalues) | "
              "largest stable h | distance after N steps | GD (trajectory) |")
    lines = [header, "|" + " --- |" * 10]
    for r in rows:
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
        name = LABELS[r["method"]] + (f" ({params})" if params else "")
        if r["differentiable"]:
            cells = [_complex(r["eigenvalues"]), r["continuous"],
                     _complex(r["operator_eigenvalues"]), f"{r['spectral_radius']:.6f}",
                     r["discrete"], f"{r['stable_h']:.3g}"]
        else:
            cells = [r["continuous"], "-", "-", "-", "-", "-"]
        lines.append("| " + " | ".join([name, r["update"], *cells,
                                          f"{r['final_distance']:.3g}", r["trajectory"]]) + " |")
    return "\n".join(lines)


def plot_method(method, out_path, h=0.1, steps=2000, start=(1.0, 1.0), extent=2.0, dpi=80,
                **params):
    """One PNG: the vector field (arrows) with the simultaneous and the alternating trajectory
    from `start`, side by side; the equilibrium marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    merged = check_method(method, params)
    grid = np.linspace(-extent, extent, 17)
    theta, psi = np.meshgrid(grid, grid)
    v_theta, v_psi = vector_field(method, theta, psi, **params)
    fig, axes = plt.subplots(1, 2, figsize=(7.2, 3.5), dpi=dpi, sharey=True)
    for ax, update in zip(axes, UPDATES):
        ax.quiver(theta, psi, v_theta, v_psi, color="0.55", angles="xy", width=0.004)
        path = trajectory(method, start, h, steps, update, **params)
        path = path[np.all(np.isfinite(path), axis=1)]
        ax.plot(path[:, 0], path[:, 1], lw=0.9, color="tab:blue")
        ax.plot(*start, "o", color="tab:red", ms=5)
        ax.plot(0, 0, "*", color="black", ms=8)
        ax.set_xlim(-extent, extent)
        ax.set_ylim(-extent, extent)
        ax.set_aspect("equal")
        ax.set_xlabel("theta (generator)")
        ax.set_title(f"{update} GD, h={h}, {steps} steps", fontsize=8)
    axes[0].set_ylabel("psi (discriminator)")
    params_text = ", ".join(f"{k}={v}" for k, v in merged.items())
    fig.suptitle(f"Dirac-GAN: {LABELS[method]}" + (f" ({params_text})" if params_text else ""),
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(out_path)
    plt.close(fig)
    return out_path
