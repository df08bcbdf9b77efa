r"""The Dirac-GAN study (Mescheder et al. 2018): vector fields, trajectories, convergence table.

    python training/dirac_gan.py          # docs/figures/dirac_gan_*.png and docs/convergence.md

Writes one PNG per method (its vector field with the simultaneous and the alternating
trajectory) and the convergence table, computed from the eigenvalues and from the trajectories
(ganzoo.analysis.dirac_gan), between the markers of docs/convergence.md; the rest of that file
is kept. NumPy and matplotlib only; a few seconds on a CPU.
"""
import os
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_float("h", 0.1, "Step size of gradient descent.")
flags.DEFINE_integer("steps", 2000, "Generator steps per trajectory.")
flags.DEFINE_list("start", ["1", "1"], "Starting point theta,psi.")
flags.DEFINE_float("gamma", 0.3, "R1 / R2 penalty weight.")
flags.DEFINE_float("gp_gamma", 1.0, "WGAN-GP penalty weight.")
flags.DEFINE_float("sigma", 1.0, "Instance noise standard deviation.")
flags.DEFINE_float("clip", 1.0, "WGAN's clipping of psi (its Lipschitz constraint).")
flags.DEFINE_string("figures_dir", "docs/figures", "Folder of the PNGs.")
flags.DEFINE_string("markdown", "docs/convergence.md", "Markdown file holding the table.")

BEGIN = "<!-- dirac-gan table: written by training/dirac_gan.py -->"
END = "<!-- end of dirac-gan table -->"


def _command():
    args = " ".join(sys.argv[1:])
    return "python training/dirac_gan.py" + (f" {args}" if args else "")


def table_section(rows, table, figures):
    r = rows[0]
    lines = [
        BEGIN,
        f"Step size h = {r['h']}, {r['steps']} generator steps from (theta, psi) = "
        f"{r['start']}, one discriminator step per generator step. Regenerate with "
        f"`{_command()}`.",
        "",
        table,
        "",
        " ".join(f"![{name}]({path})" for name, path in figures),
        END,
    ]
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    from ganzoo.analysis import dirac_gan
    from ganzoo.utils.files import write_text

    try:
        start = tuple(float(s) for s in FLAGS.start)
        if len(start) != 2:
            raise ValueError
    except ValueError:
        print(f"dirac_gan.py: error: --start must be two numbers theta,psi; got {FLAGS.start}",
              file=sys.stderr)
        return 2
    params = {"wgan": {"clip": FLAGS.clip}, "wgan_gp": {"gamma": FLAGS.gp_gamma},
              "instance_noise": {"sigma": FLAGS.sigma}, "r1": {"gamma": FLAGS.gamma},
              "r2": {"gamma": FLAGS.gamma}}
    try:
        rows = dirac_gan.convergence_table(FLAGS.h, FLAGS.steps, start, params=params)
    except ValueError as error:
        print(f"dirac_gan.py: error: {error}", file=sys.stderr)
        return 2
    os.makedirs(FLAGS.figures_dir, exist_ok=True)
    figures = []
    for method in dirac_gan.METHODS:
        path = os.path.join(FLAGS.figures_dir, f"dirac_gan_{method}.png")
        dirac_gan.plot_method(method, path, FLAGS.h, FLAGS.steps, start,
                              **params.get(method, {}))
        rel = os.path.relpath(path, os.path.dirname(os.path.abspath(FLAGS.markdown)))
        figures.append((dirac_gan.LABELS[method], rel))
        print(path, f"{os.path.getsize(path) / 1024:.0f} KiB")
    section = table_section(rows, dirac_gan.format_markdown(rows), figures)
    text = open(FLAGS.markdown, encoding="utf-8").read() if os.path.exists(FLAGS.markdown) else ""
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN)] + section + text[text.index(END) + len(END) + 1:]
    else:
        text = (text + "\n" if text else "# Convergence\n\n") + section
    write_text(FLAGS.markdown, text, what="convergence table")
    print(dirac_gan.format_markdown(rows))
    print(f"table -> {FLAGS.markdown}")
    return 0


if __name__ == "__main__":
    app.run(main)
