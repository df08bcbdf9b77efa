"""Figures of runs and models (matplotlib, no display needed): FID curves and sample grids."""
import json
import os


def read_fid_records(path):
    """The FID measurements of a training run: one JSON object a line (fid.jsonl), by D step.

    A later line for the same D step (a resumed run measuring again) replaces the earlier one.
    """
    records = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                records[int(record["d_step"])] = record
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{path}, line {number}: not a FID record ({error}).") from None
    if not records:
        raise ValueError(f"{path} holds no FID record yet.")
    return [records[step] for step in sorted(records)]


def series_labels(records, label=None):
    """{record key: legend name} of the series a run's records hold. "fid" measures the inference
    generator: the EMA average when the run keeps one (then "fid_raw" is the raw G beside it),
    else the raw G itself. `label` names the run, for a figure with another run beside it."""
    has_raw = any("fid_raw" in r for r in records)
    names = {"fid": "EMA generator", "fid_raw": "raw generator"} if has_raw else {"fid": "generator"}
    if label:
        names = {key: f"{label}: {name}" for key, name in names.items()} if has_raw \
            else {"fid": label}
    return names


def plot_fid_curve(records, out_path, title=None, references=(), label=None):
    """FID against discriminator steps for every series the records hold ("fid", "fid_raw").

    `references`: (label, [(d_step, fid), ...]) pairs drawn as dashed lines, e.g. a peer's run.
    `label`: the run's name in the legend (series_labels).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for key, name in series_labels(records, label).items():
        points = [(r["d_step"], r[key]) for r in records if key in r]
        if points:
            ax.plot(*zip(*points), marker="o", markersize=3, label=name)
    for name, points in references:
        ax.plot(*zip(*points), linestyle="--", marker="x", label=name)
    first = records[0]
    protocol = " ".join(str(part) for part in (
        f"FID of {first.get('generated', '?')} samples vs {first.get('reference', '?')}",
        first.get("dataset"), first.get("reference_split"), "images") if part)
    ax.set_xlabel("discriminator steps")
    ax.set_ylabel("FID (lower is better)")
    ax.set_yscale("log")
    # Plain numbers ("200", not "2 x 10^2") on the major ticks and on the minor ticks Matplotlib
    # chooses to label (all of them when the curve spans less than a decade).
    from matplotlib.ticker import LogFormatter

    ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(1, 0.4)))
    ax.set_title(title or protocol, fontsize=9)
    if title:
        ax.text(0.99, 0.98, protocol, transform=ax.transAxes, ha="right", va="top", fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
    fig.savefig(out_path)
    plt.close(fig)
    return out_path
