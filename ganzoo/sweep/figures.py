"""The paper's figures from a sweep's rows (export.load_rows or export.read_csv), as PNG.

- best_{loss,normalization,penalty}.png: box plots of each group's best scores (the top
  fraction, 5% in the paper, at least one trial per group), as in Kurach et al. Figures 1-4;
- budget.png: the best score found after k trials, per loss (the paper's "FID vs budget");
- samples.png: the final sample grid of each cell's best trial.
"""
import glob
import math
import os

from ganzoo.sweep.spaces import SweepError

GROUPS = ("loss", "normalization", "penalty")


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise SweepError("the sweep figures need matplotlib: pip install matplotlib (or "
                         "ganzoo[figures]).") from None
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def finished(rows):
    """Completed trials with a finite score, oldest first."""
    done = [r for r in rows if r.get("state") == "COMPLETE" and r.get("value") is not None
            and math.isfinite(float(r["value"]))]
    if not done:
        raise SweepError("the study has no completed trial with a score yet: nothing to plot. "
                         "Run `ganzoo sweep run` first.")
    return sorted(done, key=lambda r: float(r["number"]))


def best_per_group(rows, group, top=0.05):
    """{group value: the best ceil(top * n) scores (at least one)}, lower is better."""
    if not 0 < top <= 1:
        raise SweepError(f"--top must be in (0, 1]; got {top}.")
    values = {}
    for row in finished(rows):
        values.setdefault(str(row.get(group)), []).append(float(row["value"]))
    return {name: sorted(v)[:max(1, math.ceil(top * len(v)))]
            for name, v in sorted(values.items())}


def best_so_far(rows, group="loss"):
    """{group value: [best score after 1, 2, ... of its trials]} in trial order."""
    curves = {}
    for row in finished(rows):
        curve = curves.setdefault(str(row.get(group)), [])
        value = float(row["value"])
        curve.append(min(value, curve[-1]) if curve else value)
    return curves


def _save(fig, path):
    from ganzoo.utils.files import atomic_output

    plt = _pyplot()
    with atomic_output(path, suffix=".png", what="figure") as temp:
        fig.savefig(temp, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _metric(rows):
    row = finished(rows)[0]
    samples = row.get("eval_samples")
    samples = f", {int(float(samples))} samples" if samples else ""
    return f"{str(row.get('metric') or 'score').upper()}{samples} (lower is better)"


def box_plot(rows, group, path, top=0.05):
    plt = _pyplot()
    groups = best_per_group(rows, group, top)
    fig, ax = plt.subplots(figsize=(1.4 + 1.3 * len(groups), 3.6))
    ax.boxplot(list(groups.values()), showfliers=True)
    ax.set_xticks(range(1, len(groups) + 1),
                  [f"{name}\n(n={len(v)})" for name, v in groups.items()])
    ax.set_ylabel(_metric(rows))
    ax.set_title(f"best {top:.0%} of trials per {group}")
    return _save(fig, path)


def budget_plot(rows, path, group="loss"):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for name, curve in best_so_far(rows, group).items():
        ax.plot(range(1, len(curve) + 1), curve, marker="o", label=name)
    ax.set_xlabel("trials (budget)")
    ax.set_ylabel("best " + _metric(rows))
    ax.legend(title=group)
    ax.set_title("best score found against the number of trials")
    return _save(fig, path)


def _final_grid(run_dir):
    grids = sorted(glob.glob(os.path.join(str(run_dir), "samples", "step_*.png")))
    return grids[-1] if grids else None


def samples_plot(rows, path):
    """Each cell's best trial's last sample grid, side by side."""
    from PIL import Image

    plt = _pyplot()
    best = {}
    for row in finished(rows):
        cell = row.get("cell")
        if cell not in best or float(row["value"]) < float(best[cell]["value"]):
            best[cell] = row
    shown = [(cell, row, _final_grid(row.get("run_dir"))) for cell, row in sorted(best.items())]
    shown = [item for item in shown if item[2]]
    if not shown:
        raise SweepError("no sample grid in the trials' run folders (samples/step_*.png): were "
                         "the run folders moved? Pass the study whose run folders are here.")
    columns = min(4, len(shown))
    rows_n = math.ceil(len(shown) / columns)
    fig, axes = plt.subplots(rows_n, columns, figsize=(3.2 * columns, 3.5 * rows_n),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (cell, row, grid) in zip(axes.flat, shown):
        with Image.open(grid) as image:
            ax.imshow(image.convert("RGB"))
        ax.set_title(f"{cell}\ntrial {int(float(row['number']))}: {float(row['value']):.3g}",
                     fontsize=8)
    return _save(fig, path)


def write_all(rows, folder, top=0.05):
    """Every figure into `folder`; returns the paths written."""
    os.makedirs(folder, exist_ok=True)
    written = [box_plot(rows, group, os.path.join(folder, f"best_{group}.png"), top)
               for group in GROUPS]
    written.append(budget_plot(rows, os.path.join(folder, "budget.png")))
    written.append(samples_plot(rows, os.path.join(folder, "samples.png")))
    return written
