"""A study's trials as rows (one dict per trial) and as a CSV file.

Every column is plain: the trial's number, state, score, the recipe's fields, the seconds it
trained, its run folder, the intermediate scores (JSON), the worker and, for a retried trial, the
trial it retried.
"""
import csv
import io
import json

from ganzoo.recipe import Recipe
from ganzoo.sweep.spaces import SweepError

FIRST = ("number", "state", "value", "metric", "eval_samples", "features", "cell")
LAST = ("seconds", "run_dir", "scores", "worker", "retried_from", "resumed_from_step",
        "diverged", "surplus", "datetime_start", "datetime_complete")


def load_rows(storage_url, study_name):
    """The trials of a study, oldest first."""
    import optuna

    from ganzoo.sweep.study import _quiet, open_storage

    storage = open_storage(storage_url, heartbeat_interval=None)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
        raise SweepError(f"no study {study_name!r} in {storage_url}; it holds "
                         f"{', '.join(names) or 'no study'}. Pass --study NAME.") from None
    rows = []
    with _quiet():
        from optuna.storages import RetryHeartbeatStaleTrialCallback as retry

        for trial in study.get_trials(deepcopy=False):
            attrs = trial.user_attrs
            recipe = attrs.get("recipe") or {}
            row = {"number": trial.number, "state": trial.state.name, "value": trial.value,
                   "metric": attrs.get("metric"), "eval_samples": attrs.get("eval_samples"),
                   "features": attrs.get("features"), "cell": trial.params.get("cell")}
            row.update({name: recipe.get(name) for name in Recipe.field_names()})
            row.update({"seconds": attrs.get("seconds"), "run_dir": attrs.get("run_dir"),
                        "scores": json.dumps(attrs.get("scores", [])),
                        "worker": attrs.get("worker"),
                        "retried_from": retry.retried_trial_number(trial),
                        "resumed_from_step": attrs.get("resumed_from_step"),
                        "diverged": attrs.get("diverged"), "surplus": attrs.get("surplus"),
                        "datetime_start": _time(trial.datetime_start),
                        "datetime_complete": _time(trial.datetime_complete)})
            rows.append(row)
    return rows


def _time(value):
    return value.isoformat(timespec="seconds") if value else None


def columns():
    return list(FIRST) + list(Recipe.field_names()) + list(LAST)


def to_csv(rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()


def write_csv(rows, path):
    """Write the rows (atomically); returns how many."""
    from ganzoo.utils.files import write_text

    write_text(path, to_csv(rows), suffix=".csv", what="sweep export")
    return len(rows)


def read_csv(path):
    """Rows as write_csv wrote them (numbers as floats, empty cells as None)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = []
        for row in csv.DictReader(handle):
            parsed = {}
            for key, value in row.items():
                if value == "":
                    parsed[key] = None
                    continue
                try:
                    parsed[key] = float(value) if key not in ("scores", "run_dir") else value
                except ValueError:
                    parsed[key] = value
            rows.append(parsed)
    return rows
