"""Publishing a trained model: a training run folder -> a preset folder (ganzoo.zoo.preset), its
provenance checked, the manifest entry updated, the Hub upload.

The run folder is what `ganzoo train --model_dir` writes: checkpoints/ (ckpt-*.weights.h5 with
the run's metadata), config.json, generator.weights.h5 (+ generator_raw.weights.h5 with an EMA),
discriminator.weights.h5, samples/, fid.jsonl. Everything the preset says about the run comes
from the run itself: the steps from its newest checkpoint (the optimizer's counters and the
checkpoint metadata, which must agree), the hyper-parameters and data set from the checkpoint
metadata (cross-checked with config.json), the FID curve from fid.jsonl, the final inference
weights checked against the checkpoint. A zoo entry (`config=NAME`) must match: the recipe's
architecture, loss, regularisation, optimiser and n_disc, and the entry's data set.

`publish()` is the whole publication (preset folder, upload, manifest); `ganzoo publish`
(ganzoo/cli/publish.py; training/publish.py forwards to it) and `ganzoo export-preset` are its
command-line front ends.
"""
import dataclasses
import json
import os
import pathlib
import re
import sys

import numpy as np

from ganzoo.recipe import AVERAGING, MODEL_ROLES, SCHEDULE, Recipe
from ganzoo.zoo import hub, manifest, preset

LAYOUT = preset.LAYOUT
_UPLOAD_PATTERNS = ["*.md", "*.json", "*.h5", "*.keras", "*.png"]
# Keys a zoo entry's recipe fixes: a run that differs in one of them is another model.
RECIPE_KEYS = Recipe.keys(*MODEL_ROLES)
# Keys a run may change (recorded on the card as differences from the recipe).
RUN_KEYS = Recipe.keys(SCHEDULE, AVERAGING)
# A field a run's metadata lacks (written before the field existed) had its default, as
# Recipe.from_dict reads it.
_FIELD_DEFAULTS = {spec.name: spec.default for spec in dataclasses.fields(Recipe)}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


class PublishError(ValueError):
    """A run that cannot be published as asked; the message says why and what to do."""


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


def normalize_metrics(record):
    """Metrics, each {"name", "value", "protocol"[, "details"]}, from an evaluation record.

    Accepts a list of such dicts; {"metrics": list or {name: {"value" or "mean", ...}},
    "protocol": ...} such as `ganzoo eval --out` records (the mean over sample sets is the value;
    std and per-set values go to details); or a flat record such as `ganzoo fid --json` output,
    {"fid": 31.2, "protocol": ..., ...}. Protocol dicts become "key: value; ..." strings.
    """
    if record is None:
        return []
    if isinstance(record, dict) and "metrics" in record:
        inner = record["metrics"]
        if isinstance(inner, dict):
            inner = [dict(value, name=key) if isinstance(value, dict) else {"name": key, "value": value}
                     for key, value in inner.items()]
        shared = record.get("protocol")
        metrics = [dict(m, protocol=m.get("protocol", shared)) for m in inner]
    elif isinstance(record, dict):
        shared = record.get("protocol")
        metrics = [
            {"name": key, "value": value, "protocol": shared}
            for key, value in record.items()
            if key.lower() in ("fid", "kid", "is", "inception_score", "precision", "recall")
            and isinstance(value, (int, float))
        ]
    else:
        metrics = list(record)
    out = []
    for metric in metrics:
        metric = dict(metric)
        if "value" not in metric and "mean" in metric:
            metric["value"] = metric.pop("mean")
        protocol = metric.get("protocol")
        if isinstance(protocol, dict):
            # A path on the machine that measured (the cached reference features, say) says nothing
            # to a reader and must not be published: its file name is kept.
            protocol = "; ".join(
                f"{k}: {json.dumps(v) if isinstance(v, (dict, list)) else (os.path.basename(v) if isinstance(v, str) and os.path.isabs(v) else v)}"
                for k, v in protocol.items())
        elif isinstance(protocol, list):
            protocol = json.dumps(protocol)
        if not protocol:
            raise ValueError(
                f"Metric {metric.get('name')!r} has no protocol. Every published number must say how it was "
                f"measured (images, reference set, network); pass the evaluator's full record."
            )
        if not isinstance(metric.get("value"), (int, float)) or not np.isfinite(metric["value"]):
            raise ValueError(f"Metric {metric.get('name')!r} has no finite numeric value: {metric!r}")
        item = {"name": str(metric["name"]), "value": float(metric["value"]), "protocol": str(protocol)}
        details = dict(metric.get("details") or {})
        details.update({k: v for k, v in metric.items() if k not in ("name", "value", "protocol", "details")})
        if details:
            item["details"] = details
        out.append(item)
    if not out:
        raise ValueError(f"No metrics found in the evaluation record: {str(record)[:200]}")
    return out


def _fid_of(metrics):
    for metric in metrics:
        if metric["name"].lower() == "fid":
            return metric["value"]
    return None


# --------------------------------------------------------------------------------------------
# The run folder
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """What a training run folder says about itself."""

    folder: pathlib.Path
    checkpoint: pathlib.Path
    hyper: dict
    dataset: str  # the --dataset value it read
    d_steps: int
    g_steps: int
    seed: object
    fid_curve: list
    base_config: str = None  # the --config / --init_from zoo name it started from
    provenance: dict = None  # how a lease run was trained (load_lease_run); None for `ganzoo train` runs

    @property
    def has_ema(self):
        return self.hyper.get("ema_decay") is not None


def _read_json_file(path, what):
    try:
        value = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PublishError(f"{what} {path} is not readable JSON: {error}") from None
    if not isinstance(value, dict):
        raise PublishError(f"{what} {path} is not a JSON object.")
    return value


def newest_checkpoint(run_dir):
    """(path, metadata) of the newest readable checkpoint of a run folder."""
    from ganzoo.checkpoint import CheckpointError, read_metadata

    run_dir = pathlib.Path(run_dir)
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        if run_dir.is_file() and run_dir.name.startswith("ckpt-"):
            return run_dir, read_metadata(str(run_dir))
        raise PublishError(
            f"{run_dir} has no checkpoints/ folder. Point it at a training run folder (`ganzoo train` "
            f"--model_dir): its checkpoints say how many steps were trained, with which settings and data. "
            f"Generator/discriminator weight files alone cannot be published (their provenance is unknown)."
        )
    names = sorted((p for p in folder.glob("ckpt-*.weights.h5") if ".tmp-" not in p.name), reverse=True)
    for candidate in names:
        try:
            return candidate, read_metadata(str(candidate))
        except CheckpointError as error:
            print(f"publish: skipping unreadable checkpoint {candidate}: {error}", file=sys.stderr)
    raise PublishError(f"{folder} holds no readable ckpt-*.weights.h5; nothing to publish.")


def read_fid_curve(path):
    """The records of a run's fid.jsonl, by D step ([] when there is none), read with
    ganzoo.figures.read_fid_records (a resumed run's later measurement of a step wins)."""
    from ganzoo.figures import read_fid_records

    path = pathlib.Path(path)
    if not path.is_file() or not path.read_text(encoding="utf-8").strip():
        return []
    try:
        curve = read_fid_records(str(path))
    except ValueError as error:
        raise PublishError(f"{error} Fix or remove the line.") from None
    bad = [r.get("d_step") for r in curve if not isinstance(r.get("fid"), (int, float))]
    if bad:
        raise PublishError(f"{path}: the records of D steps {bad[:5]} have no numeric 'fid'.")
    return curve


def load_run(run_dir):
    """(GAN with the newest checkpoint's weights, Run) of a training run folder, or of the
    weights an accelerator lease brought back (a folder with report.json; see load_lease_run)."""
    import ganzoo

    run_dir = pathlib.Path(run_dir)
    if not run_dir.exists():
        raise PublishError(f"--checkpoint {run_dir} does not exist.")
    if run_dir.is_dir() and not (run_dir / "checkpoints").is_dir() and (run_dir / LEASE_REPORT).is_file():
        return load_lease_run(run_dir)
    checkpoint, metadata = newest_checkpoint(run_dir)
    folder = run_dir if run_dir.is_dir() else checkpoint.parent.parent
    hyper = dict(metadata.get("hyper") or {})
    missing = [k for k in ("architecture", "resolution", "normalization", "loss", "z_dim") if k not in hyper]
    if missing:
        raise PublishError(f"{checkpoint} records no {', '.join(missing)} (metadata 'hyper'); it was not written "
                           f"by `ganzoo train` and cannot be published.")
    dataset = metadata.get("dataset")
    config_path = folder / "config.json"
    if config_path.is_file():
        run_config = _read_json_file(config_path, "The run's")
        stored = run_config.get("training") or {}
        clash = [k for k in RECIPE_KEYS if k in stored and k in hyper and stored[k] != hyper[k]]
        if clash:
            raise PublishError(f"{config_path} and {checkpoint} disagree on {', '.join(clash)}: the folder mixes two "
                               f"runs. Publish from a clean run folder.")
        if dataset is None:
            dataset = run_config.get("dataset")
        elif run_config.get("dataset") not in (None, dataset):
            raise PublishError(f"{checkpoint} was trained on {dataset!r} but {config_path} says "
                               f"{run_config.get('dataset')!r} (a resumed run switched data sets?). ganzoo cannot "
                               f"tell which data the weights learnt from; publish a run on one data set.")
    if not dataset:
        raise PublishError(f"Neither {checkpoint} nor {config_path} records the data set of the run.")
    gan = ganzoo.build_gan(**{k: v for k, v in hyper.items() if k in preset.BUILD_KEYS})
    try:
        gan.load_weights(str(checkpoint))
    except Exception as error:  # noqa: BLE001 - keras raises several types on mismatch
        raise PublishError(f"{checkpoint} does not fit the settings stored in it ({error}).") from error
    d_steps, g_steps = gan.d_steps, gan.g_steps
    if metadata.get("d_step") is not None and int(metadata["d_step"]) != d_steps:
        raise PublishError(f"{checkpoint}: its optimizer counted {d_steps} discriminator steps, its metadata says "
                           f"{metadata['d_step']}. The checkpoint is inconsistent; publish another one.")
    if d_steps < 1:
        raise PublishError(f"{checkpoint} holds an untrained model (0 discriminator steps).")
    run = Run(folder=folder, checkpoint=checkpoint, hyper=hyper, dataset=str(dataset), d_steps=d_steps,
              g_steps=g_steps, seed=metadata.get("seed"), fid_curve=read_fid_curve(folder / "fid.jsonl"),
              base_config=metadata.get("config") or metadata.get("init_from"))
    _check_final_weights(gan, run)
    return gan, run


def generator_files(has_ema):
    """{file name: GAN attribute} of the final generator weights a run writes (`ganzoo train` and the
    lease alike): with an EMA, generator.weights.h5 is the average and the raw G is beside it."""
    files = {"generator.weights.h5": "ema_generator" if has_ema else "generator"}
    if has_ema:
        files["generator_raw.weights.h5"] = "generator"
    return files


LEASE_REPORT = "report.json"
_LEASE_KEYS = ("config", "d_step", "hyper", "weights")


def load_lease_run(folder):
    """(GAN, Run) of a run trained on a lent accelerator (benchmarks/lease.py `join` output).

    A lease brings back the inference weights, not the full checkpoint (its optimizer state would
    not fit the transfer limits), with report.json: the recipe's hyper-parameters, the D steps
    trained, the data set, and the sha256 of the weight files it wrote. The files here must be
    exactly those; the steps come from the report, the only record of them.
    """
    import ganzoo
    from ganzoo.utils.files import sha256_file

    folder = pathlib.Path(folder)
    report = _read_json_file(folder / LEASE_REPORT, "The lease report")
    training = report.get("training")
    if not isinstance(training, dict) or any(k not in training for k in _LEASE_KEYS):
        raise PublishError(f"{folder / LEASE_REPORT} has no complete 'training' record ({', '.join(_LEASE_KEYS)}): "
                           f"it is not a lease report (benchmarks/lease.py join writes the folder).")
    hyper = dict(training["hyper"])
    files = dict(generator_files(hyper.get("ema_decay") is not None), **{"discriminator.weights.h5": "discriminator"})
    for name in files:
        expected = training["weights"].get(name)
        path = folder / name
        if expected is None or not path.is_file():
            raise PublishError(f"{folder} lacks {name} or its sha256 in report.json: join the lease's files again "
                               f"(python benchmarks/lease.py join FILES_AT --out {folder}).")
        if sha256_file(path) != expected:
            raise PublishError(f"{path} is not the file the lease trained (sha256 differs from report.json): it "
                               f"was changed or comes from another call. Join that call's files again.")
    gan = ganzoo.build_gan(**{k: v for k, v in hyper.items() if k in preset.BUILD_KEYS})
    try:
        for name, attribute in files.items():
            getattr(gan, attribute).load_weights(str(folder / name))
    except Exception as error:  # noqa: BLE001 - keras raises several types on mismatch
        raise PublishError(f"The weights in {folder} do not fit the report's settings ({error}).") from error
    d_steps = int(training["d_step"])
    if d_steps < 1:
        raise PublishError(f"{folder / LEASE_REPORT} reports an untrained model (0 discriminator steps).")
    # One fit step is n_disc D updates and one G update (compare_gan's order), so G trained
    # ceil(d_steps / n_disc) times.
    g_steps = -(-d_steps // int(hyper.get("disc_iters", 1)))
    curve = [dict(r) for r in report.get("fid_curve") or [] if isinstance(r.get("fid"), (int, float))]
    environment = report.get("environment") or {}
    provenance = {
        "trained_on": environment.get("device_kind"), "backend": "jax",
        "versions": {k: environment.get(k) for k in ("jax", "keras", "numpy") if environment.get(k)},
        "calls": [{k: c.get(k) for k in ("initial_d_step", "d_step", "steady_ms_per_d_step")}
                  for c in report.get("training_calls") or []],
        "data_order": training.get("data_order"),
    }
    args = [c.get("args") or {} for c in report.get("calls") or []]
    datasets = {a.get("dataset") for a in args} - {None}
    if len(datasets) != 1:
        raise PublishError(f"{folder / LEASE_REPORT} does not name one data set for its calls ({sorted(datasets)}).")
    run = Run(folder=folder, checkpoint=folder / LEASE_REPORT, hyper=hyper, dataset=datasets.pop(), d_steps=d_steps,
              g_steps=g_steps, seed=args[-1].get("seed"), fid_curve=curve, base_config=training["config"],
              provenance=provenance)
    return gan, run


def _same_weights(model, path):
    """True when the .weights.h5 file at `path` holds exactly `model`'s weights."""
    # The model's own config: a conditional or self-attention generator has more weights than the
    # plain one of its family, which could never load them.
    other = type(model).from_config(model.get_config())
    try:
        other.load_weights(str(path))
    except Exception:  # noqa: BLE001 - a file of another architecture is simply not the same weights
        return False
    return all(np.array_equal(a, b) for a, b in zip(model.get_weights(), other.get_weights()))


def _check_final_weights(gan, run):
    """The run folder's final weight files, when present, must be the newest checkpoint's."""
    for filename, attribute in generator_files(run.has_ema).items():
        model = getattr(gan, attribute)
        path = run.folder / filename
        if path.is_file() and not _same_weights(model, path):
            raise PublishError(
                f"{path} is not the generator of the newest checkpoint {run.checkpoint.name} ({run.d_steps} steps): "
                f"the run continued after it, or the folder mixes runs. Publish from a folder whose final weights "
                f"and newest checkpoint agree (resume the run to its end, or remove the stale final weights)."
            )


# --------------------------------------------------------------------------------------------
# Evaluation records: which generator each measured
# --------------------------------------------------------------------------------------------


def read_eval_records(specs, run):
    """{"ema": record, "raw": record} (either may be absent) from --metrics values.

    A value is PATH or LABEL=PATH with LABEL "ema" or "raw". Unlabelled records are identified by
    their "generator" key or "generator_weights" path (generator.weights.h5 is the EMA average in a
    run with an EMA, generator_raw.weights.h5 the raw G); a single unidentifiable record measured
    the run's default inference generator. A record whose generator_weights file exists must hold
    the checkpoint's weights of that generator.
    """
    records = {}
    for spec in specs or ():
        label, sep, path = str(spec).partition("=")
        if not sep or label not in ("ema", "raw"):
            label, path = None, str(spec)
        record = _read_json_file(path, "The evaluation record")
        weights = record.get("generator_weights")
        if label is None:
            label = record.get("generator") if record.get("generator") in ("ema", "raw") else None
        if label is None and weights:
            base = os.path.basename(str(weights))
            label = {"generator_raw.weights.h5": "raw", "generator.weights.h5": "ema" if run.has_ema else "raw"}.get(base)
        if label is None:
            label = "ema" if run.has_ema else "raw"
        if label in records:
            raise PublishError(f"Two evaluation records measure the {label} generator; give one per generator "
                               f"(--metrics ema=EVAL.json --metrics raw=EVAL_RAW.json).")
        if label == "ema" and not run.has_ema:
            raise PublishError(f"{path} measures an EMA generator but the run kept none (ema_decay None).")
        records[label] = dict(record, _path=str(path), _label=label)
    return records


def _check_record(record, gan, run, zoo_dataset):
    label, path = record["_label"], record["_path"]
    weights = record.get("generator_weights")
    if weights:
        candidates = [pathlib.Path(weights), run.folder / os.path.basename(str(weights))]
        found = next((p for p in candidates if p.is_file()), None)
        model = gan.ema_generator if label == "ema" else gan.generator
        if found is not None and not _same_weights(model, found):
            raise PublishError(f"{path} measured {found}, which is not the {label} generator of {run.checkpoint}: "
                               f"the evaluation belongs to other weights. Evaluate the run's final weights again.")
    dataset = record.get("dataset")
    if zoo_dataset and dataset in manifest.DATASET_SOURCES and dataset != zoo_dataset:
        raise PublishError(f"{path} measured FID on {dataset}, not on {zoo_dataset}: it cannot be published for this "
                           f"entry. Evaluate on {zoo_dataset}.")
    resolution = record.get("resolution")
    if resolution is not None and int(resolution) != int(run.hyper["resolution"]):
        raise PublishError(f"{path} measured {resolution}x{resolution} images; the run is "
                           f"{run.hyper['resolution']}x{run.hyper['resolution']}.")


# --------------------------------------------------------------------------------------------
# Provenance against a zoo entry
# --------------------------------------------------------------------------------------------


def zoo_dataset_of(source):
    """The zoo data set a `ganzoo train --dataset` value reads, or None (a path, synthetic, ...)."""
    for key, sources in manifest.DATASET_SOURCES.items():
        if source in sources:
            return key
    return None


def _is_named_source(source):
    """A --dataset value that names its data (synthetic, a tfds name), unlike a folder or tar path."""
    return source.startswith(("synthetic", "tfds:")) or not (os.sep in source or "/" in source
                                                             or source.lower().endswith((".tar", ".tar.gz", ".tgz")))


def check_run_matches_entry(run, entry, dataset_name=None):
    """Refuse a run that is not the entry's recipe on the entry's data; returns the differences
    from the recipe in the keys a run may change (RUN_KEYS)."""
    recipe = entry["training"]
    hyper = {k: run.hyper.get(k, _FIELD_DEFAULTS[k]) for k in RECIPE_KEYS}
    wrong = [f"{k} {hyper[k]!r} (the recipe: {recipe[k]!r})" for k in RECIPE_KEYS if hyper[k] != recipe[k]]
    if wrong:
        raise PublishError(
            f"{run.checkpoint} was trained with " + ", ".join(wrong) + f", so it is not a {entry['name']} model "
            f"(the paper's recipe). Publish it under the entry whose recipe it follows, or as your own model "
            f"(`ganzoo publish` without --config, with --out_dir)."
        )
    read = zoo_dataset_of(run.dataset)
    declared = dataset_name
    if declared is not None and declared not in manifest.DATASET_SOURCES:
        raise PublishError(f"--dataset_name {declared!r} is not a zoo data set ({', '.join(manifest.DATASET_SOURCES)}).")
    if read is None and declared is None:
        raise PublishError(
            f"The run read its images from {run.dataset!r}, which is not the zoo's {entry['dataset']} source "
            f"({', '.join(manifest.DATASET_SOURCES[entry['dataset']])}). If that folder or tar is a copy of "
            f"{entry['dataset']}, say so with --dataset_name {entry['dataset']}; otherwise it is not this model."
        )
    if declared is not None and (read is not None or _is_named_source(run.dataset)):
        if read != declared:
            raise PublishError(f"--dataset_name {declared} contradicts the run, which read {run.dataset!r} "
                               f"({read or 'not a copy of ' + declared}). --dataset_name is for a folder or tar "
                               f"of the images.")
    actual = read or declared
    if actual != entry["dataset"]:
        raise PublishError(
            f"The run was trained on {actual} ({run.dataset!r}); {entry['name']} is a {entry['dataset']} model. "
            f"Publish it under a {actual} entry, or as your own model (without --config)."
        )
    return {k: run.hyper[k] for k in RUN_KEYS if k in run.hyper and k in recipe and run.hyper[k] != recipe[k]}


def decide_status(requested, d_steps, recipe_steps):
    """'published' (all the recipe's steps) or 'partial' (fewer); refuses a status that is untrue."""
    if requested not in (None, "published", "partial"):
        raise PublishError(f"--status must be published or partial, not {requested!r}.")
    full = d_steps >= recipe_steps
    if requested is None:
        if not full:
            raise PublishError(f"The run trained {d_steps} of the recipe's {recipe_steps} discriminator steps: "
                               f"publish it with --status partial (the card and `ganzoo list` will say so).")
        return "published"
    if requested == "published" and not full:
        raise PublishError(f"--status published, but the run trained {d_steps} of the recipe's {recipe_steps} "
                           f"discriminator steps: use --status partial.")
    if requested == "partial" and full:
        raise PublishError(f"--status partial, but the run trained all {recipe_steps} steps ({d_steps}): "
                           f"use --status published.")
    return requested


# Protocol fields that do not change an FID value: a KID or precision/recall detail, the batch size.
_NOT_FID_PROTOCOL = frozenset({"kid", "precision_recall", "batch_size"})


def _fid_protocol(protocol):
    """The fields of a metric's protocol string ("key: value; ...") that define its FID."""
    fields = {}
    for part in str(protocol or "").split("; "):
        key, _, value = part.partition(": ")
        if key not in _NOT_FID_PROTOCOL:
            fields[key] = value
    return fields


def check_not_worse(out_dir, metrics, inference, d_steps):
    """Refuses to write a run over the preset in `out_dir` when that preset scores a lower FID on
    the same protocol, or when the two cannot be compared (this run's FID unmeasured, or measured
    on another protocol): the zoo keeps its better model unless the publisher says --replace.

    metrics: this run's normalised metrics (of the generator it would publish)."""
    path = pathlib.Path(out_dir) / preset.METADATA
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text())
        ours = old["fid"]["ours"]
        old_value = float(ours["value"])
    except (ValueError, KeyError, TypeError):
        return  # nothing measured there to lose (or not a preset: check_target refuses that)
    trained = (old.get("trained") or {}).get("d_steps")
    where = (f"{out_dir} holds {old.get('name', 'a preset')} ({trained if trained is None else f'{trained:,}'} "
             f"D steps, {ours.get('generator', 'raw')} generator, FID {old_value:.4g})")
    fix = "Pass --replace to publish over it anyway."
    new = next((m for m in metrics if m["name"].lower() == "fid"), None)
    if new is None:
        raise PublishError(f"{where}; this run's FID is not measured, so the two cannot be compared. Evaluate "
                           f"it (`ganzoo eval ... --out EVAL.json`, then --metrics EVAL.json). {fix}")
    theirs, mine = _fid_protocol(ours.get("protocol")), _fid_protocol(new.get("protocol"))
    if theirs != mine:
        differ = "; ".join(f"{key}: {theirs.get(key, '(none)')} there, {mine.get(key, '(none)')} here"
                           for key in sorted(set(theirs) | set(mine)) if theirs.get(key) != mine.get(key))
        raise PublishError(f"{where}, measured on another protocol than this run's FID {new['value']:.4g} "
                           f"({differ}). Measure this run on the published protocol. {fix}")
    if float(new["value"]) > old_value:
        raise PublishError(f"{where}, lower than this run's {float(new['value']):.4g} ({inference['generator']} "
                           f"generator, {d_steps:,} D steps) on the same protocol: the zoo keeps the better "
                           f"model. {fix}")


# --------------------------------------------------------------------------------------------
# Run folder -> preset folder
# --------------------------------------------------------------------------------------------


def publish_run(run_dir, out_dir, *, config=None, name=None, status=None, metrics=(), dataset_name=None,
                num_samples=64, sample_seed=0, discriminator_dtype="float16", repo_id=None, manifest_path=None,
                exclude_metrics=(), replace=False):
    """Write the preset folder of a training run. Returns (records, summary dict).

    config: a zoo entry name (the run must follow its recipe on its data set; status
    "published" or "partial"). Without it the preset is the user's own model ("custom"), named
    `name` (default: the run folder's name). metrics: --metrics values (see read_eval_records).
    exclude_metrics: names of measured metrics not to publish (a number found wrong after it was
    measured); FID cannot be excluded, since it decides the inference generator. replace: write
    over a preset in `out_dir` that scores a lower FID (see check_not_worse).
    """
    exclude = {str(m).strip().lower() for m in exclude_metrics or () if str(m).strip()}
    if "fid" in exclude:
        raise PublishError("--exclude_metrics cannot leave out fid: the published generator is chosen by it.")
    preset.check_target(pathlib.Path(out_dir))  # before any work: never write over what ganzoo did not write
    entry = manifest.get_entry(config, manifest_path) if config else None
    gan, run = load_run(run_dir)
    evals = read_eval_records(metrics, run)
    zoo_dataset = entry["dataset"] if entry else None
    for record in evals.values():
        _check_record(record, gan, run, zoo_dataset)
    fids = {}
    normalised = {}
    for label, record in evals.items():
        clean = {k: v for k, v in record.items() if not k.startswith("_")}
        normalised[label] = [m for m in normalize_metrics(clean) if m["name"].lower() not in exclude]
        fids[label] = _fid_of(normalised[label])
    inference = preset.choose_inference_generator(run.has_ema, fids)
    published_metrics = normalised.get(inference["generator"], [])
    if not replace:
        check_not_worse(out_dir, published_metrics, inference, run.d_steps)
    if entry is not None:
        differs = check_run_matches_entry(run, entry, dataset_name)
        status = decide_status(status, run.d_steps, entry["training"]["steps"])
        model_name, title, recipe = entry["name"], entry["title"], dict(entry["training"])
        dataset, paper, command = entry["dataset"], entry["paper"], manifest.train_command(entry["name"])
    else:
        if status not in (None, "custom"):
            raise PublishError(f"--status {status} is for zoo entries (--config NAME); your own model is 'custom'.")
        status = "custom"
        model_name = name or run.folder.resolve().name
        if not NAME_RE.match(model_name):
            raise PublishError(f"Model name {model_name!r}: use letters, digits, '.', '_' and '-' (pass --name).")
        title = f"{run.hyper['architecture']} {run.hyper['resolution']}x{run.hyper['resolution']} trained on {run.dataset}"
        recipe = {k: run.hyper[k] for k in manifest.TRAINING_KEYS if k in run.hyper}
        differs, dataset, paper, command = {}, dataset_name or run.dataset, None, None
    run_hyper = {k: v for k, v in run.hyper.items()}
    records = preset.save_preset(
        gan, out_dir, name=model_name, title=title, dataset=dataset, recipe=recipe, run=run_hyper, status=status,
        trained={"d_steps": run.d_steps, "g_steps": run.g_steps}, inference=inference, metrics=published_metrics,
        paper=paper, fid_curve=run.fid_curve, data_source=run.dataset, num_samples=num_samples,
        sample_seed=sample_seed, discriminator_dtype=discriminator_dtype, repo_id=repo_id, train_command=command,
        extra={"run": dict({"checkpoint": run.checkpoint.name, "seed": run.seed, "started_from": run.base_config},
                           **({"lease": run.provenance} if run.provenance else {}))},
    )
    summary = {"name": model_name, "status": status, "d_steps": run.d_steps, "g_steps": run.g_steps,
               "inference": inference, "metrics": published_metrics, "differs_from_recipe": differs,
               "dataset": dataset}
    return records, summary


# --------------------------------------------------------------------------------------------
# Manifest and Hub
# --------------------------------------------------------------------------------------------


def check_layout(folder):
    """The problems with a preset folder's layout (empty when it is exactly LAYOUT)."""
    folder = pathlib.Path(folder)
    present = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    problems = [f"missing {f}" for f in LAYOUT if f not in present]
    problems += [f"unexpected {f}" for f in present if f not in LAYOUT]
    return problems


def upload(folder, repo_id, token, *, endpoint=None, private=False, commit_message=None):
    """Upload a preset folder with HfApi.upload_folder; returns the new commit's sha.

    `token` is sent to `endpoint` as given: the caller decides (`ganzoo publish` sends $HF_TOKEN
    only to https://huggingface.co, see upload_token).
    """
    from huggingface_hub import HfApi

    hub.check_repo_id(repo_id, "--repo_id")
    problems = check_layout(folder)
    if problems:
        raise ValueError(f"Refusing to upload {folder}: " + "; ".join(problems))
    api = HfApi(endpoint=endpoint, token=token, library_name="ganzoo")
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(
        repo_id=repo_id,
        repo_type="model",
        folder_path=str(folder),
        commit_message=commit_message or f"Publish {pathlib.Path(folder).name} with ganzoo",
        allow_patterns=list(LAYOUT),
        delete_patterns=_UPLOAD_PATTERNS,
    )
    sha = getattr(info, "oid", None)
    if not sha or not hub.COMMIT_RE.match(sha):
        raise RuntimeError(f"The Hub did not return a commit sha for the upload to {repo_id} (got {sha!r}).")
    return sha


def update_manifest(name, records, *, status, trained, revision=None, repo_id=None, metrics=None,
                    manifest_path=None):
    """Mark `name` published or partial in the manifest: files' hashes, steps, revision, metrics."""
    if status not in manifest.LOADABLE:
        raise ValueError(f"status must be one of {', '.join(manifest.LOADABLE)}; got {status!r}.")
    data = manifest.load_manifest(manifest_path)
    if name not in data["models"]:
        manifest.get_entry(name, manifest_path)  # raises with the closest names
    entry = data["models"][name]
    entry["status"] = status
    if repo_id:
        entry["hub"]["repo_id"] = hub.check_repo_id(repo_id, "--repo_id")
    entry["hub"]["revision"] = revision
    entry["hub"]["files"] = {f: {"sha256": records[f]["sha256"], "size": records[f]["size"]} for f in LAYOUT}
    entry["trained"] = {"d_steps": int(trained["d_steps"]), "g_steps": int(trained["g_steps"])}
    entry["metrics"] = normalize_metrics(metrics) if metrics else []
    return manifest.write_manifest(data, manifest_path)


# --------------------------------------------------------------------------------------------
# The whole publication
# --------------------------------------------------------------------------------------------


def upload_token(token, endpoint):
    """`token`, else $HF_TOKEN for the official Hub only (never sent to another endpoint implicitly)."""
    if token:
        return token
    env = os.environ.get("HF_TOKEN")
    if env and not hub.is_official_endpoint(endpoint or hub.OFFICIAL_ENDPOINT):
        print(f"publish: not sending $HF_TOKEN to {endpoint}: pass --token for that endpoint.", file=sys.stderr)
        return None
    return env


def publish(config, checkpoint, *, metrics=(), status=None, name=None, dataset_name=None, out_dir=None,
            repo_id=None, token=None, endpoint=None, private=False, dry_run=False, num_samples=64, sample_seed=0,
            discriminator_dtype="float16", manifest_path=None, exclude_metrics=(), replace=False):
    """Publish a training run folder (`checkpoint`); returns (out_dir, records, revision or None).

    config: the zoo entry whose recipe the run follows (its preset goes to the mirror by default,
    and the manifest is updated unless dry_run), or None for your own model (out_dir required).
    With a token the preset is uploaded to repo_id at `endpoint` and its commit pinned. What is
    done is printed, one "publish: ..." line per step. `ganzoo publish` is this on the command line.
    """
    if repo_id is not None:
        hub.check_repo_id(repo_id, "--repo_id")
    if token and not dry_run and not (repo_id or config):
        raise ValueError("--token uploads the preset: give --repo_id owner/name (or --dry_run).")
    if config:
        entry = manifest.get_entry(config, manifest_path)
        repo_id = repo_id or entry["hub"]["repo_id"]
        mirror_dir = hub.mirror_repo_dir(repo_id, hub.default_mirror_root())
        out_dir = pathlib.Path(out_dir) if out_dir else mirror_dir
        if not dry_run and not token and out_dir.resolve() != mirror_dir.resolve():
            raise ValueError(
                f"Without --token nothing is uploaded, so the model is published to the mirror only; "
                f"--out_dir {out_dir} is not the mirror folder {mirror_dir}. Drop --out_dir, set "
                f"${hub.MIRROR_ENV}, pass --token to upload, or use --dry_run."
            )
    else:
        if not out_dir:
            raise ValueError("Your own model (no --config) needs --out_dir: the preset folder to write.")
        out_dir = pathlib.Path(out_dir)
    records, summary = publish_run(
        checkpoint, out_dir, config=config, name=name, status=status, metrics=metrics, dataset_name=dataset_name,
        num_samples=num_samples, sample_seed=sample_seed, discriminator_dtype=discriminator_dtype,
        repo_id=repo_id, manifest_path=manifest_path, exclude_metrics=exclude_metrics, replace=replace,
    )
    inference = summary["inference"]
    print(f"publish: {summary['name']} [{summary['status']}]: {summary['d_steps']} discriminator steps on "
          f"{summary['dataset']}; inference generator {inference['generator']} ({inference['reason']})")
    for filename, record in records.items():
        print(f"publish: {out_dir / filename}  {record['size']} bytes  sha256 {record['sha256']}")
    if dry_run:
        print("publish: dry run: folder written; manifest unchanged, nothing uploaded.")
        return out_dir, records, None
    revision = None
    if token:
        revision = upload(out_dir, repo_id, token, endpoint=endpoint, private=private,
                          commit_message=f"Publish {summary['name']} ({summary['status']}, "
                                         f"{summary['d_steps']} D steps)")
        hashes = {f: records[f]["sha256"] for f in ("config.json", "metadata.json", "generator.weights.h5",
                                                    "discriminator.weights.h5")}
        print(f"publish: uploaded to {repo_id} at revision {revision}")
        print(f'publish: load it with ganzoo.load("hf://{repo_id}@{revision}", sha256={json.dumps(hashes)})')
    elif not config:
        print(f'publish: load it with ganzoo.load("{out_dir}") or `ganzoo sample {out_dir} --out grid.png`')
        return out_dir, records, None
    else:
        print("publish: no token: not uploaded; the manifest records the mirror copy only.")
    if config:
        path = update_manifest(
            config, records, status=summary["status"], trained={"d_steps": summary["d_steps"],
                                                                 "g_steps": summary["g_steps"]},
            revision=revision, repo_id=repo_id, metrics=summary["metrics"], manifest_path=manifest_path)
        print(f"publish: {path} updated: {config} is {summary['status']}" + (f" at {revision}" if revision else ""))
    return out_dir, records, revision


# --------------------------------------------------------------------------------------------
# More measurements of weights already published
# --------------------------------------------------------------------------------------------


def _measurement_metrics(spec, metadata, exclude):
    """The normalised metrics of one evaluation record (PATH) of a preset's weights; refused when
    the record does not say it measured exactly those weights, or measured other data."""
    record = _read_json_file(spec, "The evaluation record")
    expected = ((metadata.get("files") or {}).get(preset.GENERATOR_WEIGHTS) or {}).get("sha256")
    measured = record.get("generator_sha256")
    if not measured:
        raise PublishError(f"{spec} does not record which weights it measured (no generator_sha256): evaluate the "
                           f"published model again with `ganzoo eval {metadata.get('name', 'MODEL')} --out {spec}`.")
    if measured != expected:
        raise PublishError(f"{spec} measured other weights (generator sha256 {measured[:12]}...) than the published "
                           f"{preset.GENERATOR_WEIGHTS} ({str(expected)[:12]}...): evaluate the published model.")
    dataset = record.get("dataset")
    published = (metadata.get("dataset") or {}).get("name")
    if dataset in manifest.DATASET_SOURCES and dataset != published:
        raise PublishError(f"{spec} measured on {dataset}; the model is trained on {published}. Evaluate on {published}.")
    return [m for m in normalize_metrics(record) if m["name"].lower() not in exclude]


def add_measurements(config=None, records=(), *, out_dir=None, repo_id=None, token=None, endpoint=None,
                     private=False, dry_run=False, manifest_path=None, exclude_metrics=()):
    """Add evaluation records of a published model's own weights to its card and metadata.json,
    keeping its weights (preset.add_measurements); returns (folder, files, revision or None).

    config: a zoo entry (its mirror folder, checked against the manifest's hashes; the manifest is
    updated, and with a token the folder is uploaded and its commit pinned), or None for a preset
    folder of your own (out_dir). records: paths of `ganzoo eval MODEL --out` records, which name the
    sha256 of the generator they measured. dry_run: print what would change, write nothing.
    `ganzoo publish --add-metrics` is this on the command line.
    """
    exclude = {str(m).strip().lower() for m in exclude_metrics or () if str(m).strip()}
    if not records:
        raise PublishError("--add-metrics needs at least one evaluation record (`ganzoo eval MODEL --out REC.json`).")
    if repo_id is not None:
        hub.check_repo_id(repo_id, "--repo_id")
    entry, sha256 = None, None
    if config:
        entry = manifest.get_entry(config, manifest_path)
        if entry["status"] not in manifest.LOADABLE:
            raise PublishError(f"{config} has no published weights (status {entry['status']}): publish a training run "
                               f"first (`ganzoo publish --config {config} --checkpoint RUN_DIR`).")
        repo_id = repo_id or entry["hub"]["repo_id"]
        folder = pathlib.Path(out_dir) if out_dir else hub.mirror_repo_dir(repo_id, hub.default_mirror_root())
        sha256 = {f: record["sha256"] for f, record in entry["hub"]["files"].items()}
    elif out_dir:
        folder = pathlib.Path(out_dir)
    else:
        raise PublishError("--add-metrics needs the model: --config NAME (a zoo entry) or --out-dir PRESET_DIR.")
    if not preset.is_preset_folder(folder):
        raise PublishError(f"{folder} is not a ganzoo preset folder (no metadata.json written by ganzoo).")
    metadata = preset.read_json(folder / preset.METADATA, f"{preset.METADATA} of {folder}")
    metrics = [m for spec in records for m in _measurement_metrics(spec, metadata, exclude)]
    merged = preset.merge_metrics(metadata.get("metrics") or [], metrics)
    for m in metrics:
        print(f"publish: {metadata.get('name')}: {m['name']} = {m['value']:.6g}")
    if dry_run:
        print(f"publish: dry run: {folder} unchanged; it would record {len(merged)} metrics "
              f"({', '.join(m['name'] for m in merged)}).")
        return folder, None, None
    files = preset.add_measurements(folder, metrics, sha256=sha256)
    for filename in (preset.METADATA, preset.README):
        print(f"publish: {folder / filename}  {files[filename]['size']} bytes  sha256 {files[filename]['sha256']}")
    revision = None
    if token and repo_id:
        revision = upload(folder, repo_id, token, endpoint=endpoint, private=private,
                          commit_message=f"Add measurements ({', '.join(m['name'] for m in metrics)})")
        print(f"publish: uploaded to {repo_id} at revision {revision}")
    elif entry is not None:
        print("publish: no token: not uploaded; the manifest records the mirror copy only.")
    if entry is not None:
        path = update_manifest(config, files, status=entry["status"], trained=entry["trained"], revision=revision,
                               repo_id=repo_id, metrics=merged, manifest_path=manifest_path)
        print(f"publish: {path} updated: {config} records {len(merged)} metrics")
    return folder, files, revision
