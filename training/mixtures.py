r"""The 2-D mixtures test bed (issue 14): each stabilisation trick x several seeds, on the ring of
8 and the grid of 25 Gaussians (ganzoo.analysis.mixtures), with the mlp2d family through
ganzoo.build_gan and GAN.fit.

    KERAS_BACKEND=jax nice -n 10 python training/mixtures.py      # docs/stabilisation.md table,
                                                                  # docs/figures/mixtures_*.png
    KERAS_BACKEND=jax python training/mixtures.py --tricks unrolled --rows_only
                                        # only that trick's row, in the existing table (same
                                        # settings); the figures are not redrawn
    KERAS_BACKEND=jax python training/mixtures.py --seeds 1 --markdown /tmp/seed0.md
                                        # the figures only (they show seed 0): the docs table
                                        # is left as it is

Every run makes the same number of generator updates (`--g_steps`) on fresh target samples;
the table is the mean (and range) over seeds of the metrics of 2,500 samples (ganzoo.analysis
.mixtures.evaluate); the figures show seed 0's samples over the modes. JAX is the fast backend
here (about 1.5 ms a step on a 2-core CPU against 10 ms on TensorFlow).
"""
import os
import shlex
import sys
import time

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_integer("g_steps", 2000, "Generator updates per run.")
flags.DEFINE_integer("batch_size", 128, "Samples per discriminator update.")
flags.DEFINE_integer("seeds", 3, "Seeds per trick (0 .. seeds - 1).")
flags.DEFINE_integer("num_samples", 2500, "Generated samples scored per run (PacGAN's 2,500).")
flags.DEFINE_list("mixtures", ["ring", "grid"], "Mixtures to train on.")
flags.DEFINE_list("tricks", None, "Trick keys to run (default: every key of TRICKS).")
flags.DEFINE_string("figures_dir", "docs/figures", "Folder of the PNGs.")
flags.DEFINE_string("markdown", "docs/stabilisation.md", "Markdown file holding the table.")
flags.DEFINE_bool("rows_only", False, "Replace (or add) only the rows of --tricks in the existing "
                  "table, keeping its other rows, its header and the figures (not redrawn).")

BEGIN = "<!-- mixtures table: written by training/mixtures.py -->"
END = "<!-- end of mixtures table -->"

# Every run: mlp2d, z_dim 16, Adam with the paper's betas (0.5 / 0.999) at rate 1e-3 (2e-4 had not
# reached the ring's modes after 2,000 updates), no normalisation
# unless the trick is SN. Each trick changes the named Recipe fields from this baseline.
BASE = dict(architecture="mlp2d", z_dim=16, normalization="none", loss="ns", g_lr=1e-3)
# key -> (label in the table, the Recipe fields the trick changes)
TRICKS = {
    "baseline": ("baseline (ns)", {}),
    "hinge": ("hinge", dict(loss="hinge")),
    "wgan_gp": ("wgan-gp (lambda 0.1), 5 D steps", dict(loss="wgan", penalty="wgan_gp", penalty_weight=0.1,
                                                          disc_iters=5)),
    "wgan_clip": ("wgan + clip 0.01, 5 D steps", dict(loss="wgan", d_weight_clip=0.01, disc_iters=5)),
    "sn": ("spectral norm", dict(normalization="spectral")),
    "r1": ("r1 (gamma 0.1)", dict(penalty="r1", penalty_weight=0.1)),
    "smoothing": ("one-sided smoothing 0.1", dict(real_label_smoothing=0.1)),
    "simultaneous": ("simultaneous updates", dict(updates="simultaneous")),
    "mbstd": ("minibatch stddev (group 4)", dict(minibatch_stddev=4)),
    "mbdisc": ("minibatch discrimination (B 50)", dict(minibatch_discrimination=50)),
    "fm": ("feature matching", dict(g_objective="feature_matching")),
    "ortho": ("orthogonal init + reg 1e-4", dict(weight_init="orthogonal", orthogonal_reg=1e-4)),
    "unrolled": ("unrolled D (k 5)", dict(unrolled_steps=5)),
}


def _command():
    return "KERAS_BACKEND=jax python " + shlex.join(["training/mixtures.py"] + sys.argv[1:])


def train_one(mixture, fields, seed, g_steps, batch_size, num_samples):
    """Train one GAN on `mixture`; returns (metrics dict, samples, seconds)."""
    import ganzoo
    from ganzoo.analysis.mixtures import evaluate

    gan = ganzoo.build_gan(**{**BASE, **fields}, seed=seed)
    per_fit_step = batch_size * gan.disc_iters
    data = mixture.sample(g_steps * per_fit_step, seed=1000 + seed)
    start = time.time()
    gan.fit(data, batch_size=per_fit_step, epochs=1, shuffle=False, verbose=0)
    seconds = time.time() - start
    samples = gan.generate(num_samples, seed=10_000 + seed)
    try:
        metrics = evaluate(samples, mixture)
    except ValueError:  # diverged: NaN samples cover nothing
        metrics = {"modes": 0, "num_modes": len(mixture.modes), "high_quality": 0.0,
                   "mode_kl": float("nan"), "energy": float("nan")}
    return metrics, samples, seconds


def _summary(values, fmt):
    import numpy as np

    values = np.asarray(values, dtype=float)
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(values.mean())} ({fmt.format(values.min())}-{fmt.format(values.max())})"


def table_section(results, mixture_names, seeds, g_steps, batch_size, figures):
    lines = [BEGIN, "",
             f"{g_steps} generator updates of batch {batch_size}, seeds 0-{seeds - 1}; mean (min-max) "
             "over seeds of 2,500 samples. modes: covered modes; hq: share of samples within 3 std "
             "of a mode; energy: energy distance to the target (lower is better). Regenerate with "
             f"`{_command()}`.", ""]
    header = "| trick |"
    rule = "|---|"
    for name in mixture_names:
        header += f" {name}: modes | {name}: hq % | {name}: energy |"
        rule += "---|---|---|"
    lines += [header, rule]
    for trick in results:
        row = f"| {TRICKS[trick][0]} |"
        for name in mixture_names:
            runs = results[trick][name]
            total = runs[0]["num_modes"]
            row += (f" {_summary([r['modes'] for r in runs], '{:.1f}')} / {total} |"
                    f" {_summary([100 * r['high_quality'] for r in runs], '{:.0f}')} |"
                    f" {_summary([r['energy'] for r in runs], '{:.3f}')} |")
        lines.append(row)
    lines += [""] + [f"![{name}]({os.path.relpath(path, 'docs')})" for name, path in figures] + ["", END]
    return "\n".join(lines)


def replace_section(path, section):
    text = open(path).read() if os.path.exists(path) else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    from ganzoo.utils.files import write_text

    write_text(path, text)


def merge_rows(path, results, mixture_names, seeds, g_steps, batch_size):
    """The existing table of `path` with the rows of `results` replaced or added (in TRICKS'
    order); refused unless the table has the same columns and run settings."""
    text = open(path).read()
    if BEGIN not in text or END not in text:
        raise app.UsageError(f"--rows_only: {path} has no mixtures table to add rows to; run without it.")
    head, rest = text.split(BEGIN, 1)
    section, tail = rest.split(END, 1)
    fresh = table_section(results, mixture_names, seeds, g_steps, batch_size, []).split("\n")
    header, settings = fresh[4], fresh[2].split(" Regenerate with")[0]
    lines = section.split("\n")
    if header not in lines or not any(line.startswith(settings) for line in lines):
        raise app.UsageError("--rows_only: the table was made with other mixtures, seeds, g_steps or "
                             "batch_size; run with the same ones or regenerate the whole table.")
    first = lines.index(header) + 2  # after the header and its rule
    last = first
    while last < len(lines) and lines[last].startswith("| "):
        last += 1
    label = lambda row: row.split(" |", 1)[0][2:]  # noqa: E731
    rows = {label(row): row for row in lines[first:last]}
    rows.update({label(row): row for row in fresh[6:6 + len(results)]})
    order = [TRICKS[key][0] for key in TRICKS]
    ordered = sorted(rows, key=lambda name: order.index(name) if name in order else len(order))
    lines[first:last] = [rows[name] for name in ordered]
    from ganzoo.utils.files import write_text

    write_text(path, head + BEGIN + "\n".join(lines) + END + tail)


def plot(mixture, samples_by_trick, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(samples_by_trick)
    cols = 4
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False)
    limit = 1.4 * abs(mixture.modes).max() + 0.5
    for ax in axes.flat:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        ax.axis("on")
        points = samples_by_trick[name]
        ax.scatter(points[:, 0], points[:, 1], s=1, alpha=0.3, color="tab:blue")
        ax.scatter(mixture.modes[:, 0], mixture.modes[:, 1], s=12, marker="x", color="tab:red")
        ax.set_xlim(-limit, limit)
        ax.set_ylim(-limit, limit)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(name, fontsize=9)
    fig.suptitle(f"{mixture.name}: samples of seed 0 (red x: the modes)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv):
    del argv
    from ganzoo.analysis.mixtures import get_mixture

    tricks = FLAGS.tricks or list(TRICKS)
    unknown = [t for t in tricks if t not in TRICKS]
    if unknown:
        raise app.UsageError(f"Unknown tricks {unknown}; choose from {list(TRICKS)}.")
    results = {trick: {} for trick in tricks}
    figures = []
    for name in FLAGS.mixtures:
        mixture = get_mixture(name)
        shown = {}
        for trick in tricks:
            results[trick][name] = []
            for seed in range(FLAGS.seeds):
                metrics, samples, seconds = train_one(mixture, TRICKS[trick][1], seed, FLAGS.g_steps,
                                                      FLAGS.batch_size, FLAGS.num_samples)
                results[trick][name].append(metrics)
                print(f"{name} | {trick} | seed {seed}: {metrics} ({seconds:.1f} s)", flush=True)
                if seed == 0:
                    shown[TRICKS[trick][0]] = samples
        if FLAGS.rows_only:
            continue
        path = os.path.join(FLAGS.figures_dir, f"mixtures_{name}.png")
        os.makedirs(FLAGS.figures_dir, exist_ok=True)
        plot(mixture, shown, path)
        figures.append((name, path))
    if FLAGS.rows_only:
        merge_rows(FLAGS.markdown, results, FLAGS.mixtures, FLAGS.seeds, FLAGS.g_steps, FLAGS.batch_size)
        print(open(FLAGS.markdown).read().split(BEGIN, 1)[1].split(END, 1)[0])
        return
    section = table_section(results, FLAGS.mixtures, FLAGS.seeds, FLAGS.g_steps, FLAGS.batch_size, figures)
    replace_section(FLAGS.markdown, section)
    print(section)


if __name__ == "__main__":
    app.run(main)
