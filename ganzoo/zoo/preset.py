"""Presets: the one folder layout of a trained ganzoo model, written by `save_preset` and read by
`load_preset` (keras-hub's conventions: config.json is the model's Keras config, metadata.json
the versions and parameter counts, weights in .weights.h5, a README.md model card).

    README.md                 model card (front matter library_name: keras)
    config.json               keras.saving.serialize_keras_object(inference generator), plus
                              "discriminator" (its Keras config), "training" (the hyper-parameters
                              the run used: ganzoo.build_gan's keyword arguments), "recipe" (the
                              recipe it follows) and "differs_from_recipe"
    metadata.json             ganzoo/keras versions, backend, parameter counts, steps trained, the
                              inference generator and why, the data set, the paper's FID and ours
                              with their protocols, the FID curve of the run, file hashes
    generator.weights.h5      the inference generator (float32)
    generator.keras           the same generator as a Functional model of built-in Keras layers:
                              keras.saving.load_model works without ganzoo (ganzoo/zoo/export.py)
    discriminator.weights.h5  the discriminator, for fine-tuning (float16 unless a weight does
                              not fit; metadata.json says which)
    samples.png               generator.sample(num, seed) as a grid

Publishing (`ganzoo publish`, ganzoo.zoo.publishing) and `ganzoo.load` (ganzoo.zoo.loading)
both go through these two functions. `choose_inference_generator` is the one place that decides
whether the EMA average or the raw generator is the inference one.
"""
import dataclasses
import datetime
import json
import os
import pathlib
import tempfile

import numpy as np

from ganzoo.recipe import AVERAGING, MODEL_ROLES, Recipe
from ganzoo.utils.files import check_file, file_record
from ganzoo.zoo import hub

FORMAT = "ganzoo-preset"
FORMAT_VERSION = 2
README = "README.md"
CONFIG = "config.json"
METADATA = "metadata.json"
GENERATOR_WEIGHTS = "generator.weights.h5"
GENERATOR_KERAS = "generator.keras"
DISCRIMINATOR_WEIGHTS = "discriminator.weights.h5"
SAMPLES = "samples.png"
LAYOUT = (README, CONFIG, METADATA, GENERATOR_WEIGHTS, GENERATOR_KERAS, DISCRIMINATOR_WEIGHTS, SAMPLES)
HASHED = (GENERATOR_WEIGHTS, GENERATOR_KERAS, DISCRIMINATOR_WEIGHTS, SAMPLES)  # listed in metadata.json
STATUSES = ("published", "partial", "custom")  # zoo entry at its full steps, zoo entry cut short, own model
FLOAT16_MAX = float(np.finfo(np.float16).max)
MAX_RESOLUTION, MAX_Z_DIM = 1024, 4096  # bounds on what a preset's config.json may ask ganzoo to build
BUILD_KEYS = Recipe.keys(*MODEL_ROLES, AVERAGING)  # what building the GAN reads (not the schedule)


class PresetError(hub.ZooError):
    """A folder that is not a ganzoo preset, or a preset that cannot be written or read."""


# --------------------------------------------------------------------------------------------
# Which generator is the inference one
# --------------------------------------------------------------------------------------------


def choose_inference_generator(has_ema, fids=None):
    """The one decision of which generator a preset publishes: "ema" or "raw", and why.

    `fids` is {"ema": value or None, "raw": value or None} from evaluation records of the two
    generators (lower is better). Both measured: the lower FID wins (a tie keeps the EMA). One
    measured: that one (the published numbers must belong to the published weights). None
    measured: the EMA average when the run kept one. Without an EMA it is always the raw G.
    Returns {"generator", "reason", "fid": {"ema", "raw"}}.
    """
    fids = {k: (None if v is None else float(v)) for k, v in dict(fids or {}).items() if k in ("ema", "raw")}
    ema, raw = fids.get("ema"), fids.get("raw")
    if not has_ema:
        if ema is not None:
            raise ValueError("An evaluation record measures the EMA generator, but this run kept no EMA "
                             "(ema_decay None); it belongs to another run.")
        return {"generator": "raw", "reason": "the run kept no EMA average of G", "fid": {"ema": None, "raw": raw}}
    if ema is not None and raw is not None:
        chosen = "ema" if ema <= raw else "raw"
        other = "raw" if chosen == "ema" else "ema"
        reason = (f"its FID {fids[chosen]:.4g} is lower than the {_LABEL[other]}'s {fids[other]:.4g} "
                  f"(evaluation records)" if ema != raw else "the two FIDs are equal; the EMA average is kept")
    elif ema is not None or raw is not None:
        chosen = "ema" if ema is not None else "raw"
        reason = f"only the {_LABEL[chosen]} was evaluated (FID {fids[chosen]:.4g})"
    else:
        chosen, reason = "ema", "neither generator was evaluated; the EMA average is the default"
    return {"generator": chosen, "reason": reason, "fid": {"ema": ema, "raw": raw}}


_LABEL = {"ema": "EMA average of G", "raw": "raw generator"}


def inference_model(gan, choice):
    """The keras model `choice` (from choose_inference_generator) names in a GAN."""
    if choice["generator"] == "ema":
        if getattr(gan, "ema_generator", None) is None:
            raise ValueError("The EMA generator was chosen but the GAN has none.")
        return gan.ema_generator
    return gan.generator


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PresetInfo:
    """What a loaded preset is: attached to the model `ganzoo.load` returns as `.preset_info`."""

    name: str
    source: str
    status: str
    dataset: str
    d_steps: int
    g_steps: int
    recipe_steps: int
    inference_generator: str
    paper_fid: float = None
    paper_fid_protocol: str = None
    fid: float = None
    fid_protocol: str = None
    verified: str = "sha256"
    files: tuple = ()

    def summary(self):
        steps = f"{self.d_steps:,} of the recipe's {self.recipe_steps:,} discriminator steps"
        ours = f"FID {self.fid:.4g}" if self.fid is not None else "FID not measured"
        paper = f"paper FID {self.paper_fid:g}" if self.paper_fid is not None else "no paper FID"
        check = {"sha256": "files verified by sha256", "local": "local folder (checked against its metadata.json)",
                 "none": "FILES NOT VERIFIED"}.get(self.verified, self.verified)
        return (f"{self.name} [{self.status}] from {self.source}: {steps}; {ours} ({_LABEL[self.inference_generator]}) "
                f"vs {paper}; {check}")


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def _keras_config(model, name):
    """keras.saving.serialize_keras_object(model) without build/compile configs (as keras-hub)."""
    import keras

    config = _jsonable(keras.saving.serialize_keras_object(model))
    for key in ("build_config", "compile_config"):
        config.pop(key, None)
    config["config"] = dict(config["config"], name=name)
    return config


def _non_finite(model):
    """Paths of the model's variables that hold NaN or Inf."""
    bad = []
    for variable in model.weights:
        value = np.asarray(variable)
        if np.issubdtype(value.dtype, np.floating) and not np.all(np.isfinite(value)):
            bad.append(variable.path)
    return bad


def _h5_cast(src, dst, dtype):
    """Copy a .weights.h5 file, floating-point arrays cast to `dtype` (groups and attributes kept)."""
    import h5py

    with h5py.File(src, "r") as source, h5py.File(dst, "w") as target:
        for key, value in source.attrs.items():
            target.attrs[key] = value

        def copy(name, item):
            if isinstance(item, h5py.Group):
                group = target.require_group(name)
                for key, value in item.attrs.items():
                    group.attrs[key] = value
                return
            data = item[()]
            if isinstance(data, np.ndarray) and data.dtype.kind == "f":
                data = data.astype(dtype)
            dataset = target.create_dataset(name, data=data)
            for key, value in item.attrs.items():
                dataset.attrs[key] = value

        source.visititems(copy)


def _save_discriminator(discriminator, path, dtype):
    """Write D's weights as `dtype` (float16 or float32); float16 falls back to float32 when a
    weight is outside float16's range. Returns the dtype written."""
    if dtype not in ("float16", "float32"):
        raise ValueError(f"discriminator_dtype must be 'float16' or 'float32', not {dtype!r}.")
    if dtype == "float16":
        largest = max((float(np.max(np.abs(np.asarray(w)))) for w in discriminator.weights if np.asarray(w).size),
                      default=0.0)
        if largest > FLOAT16_MAX:
            dtype = "float32"
    if dtype == "float32":
        discriminator.save_weights(str(path))
        return dtype
    full = path.with_name(path.name + ".float32.weights.h5")
    try:
        discriminator.save_weights(str(full))
        _h5_cast(full, path, np.float16)
    finally:
        if full.exists():
            full.unlink()
    return dtype


def is_preset_folder(folder):
    """True when `folder` holds a metadata.json written by save_preset."""
    try:
        metadata = json.loads((pathlib.Path(folder) / METADATA).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(metadata, dict) and metadata.get("format") == FORMAT


def check_target(out_dir):
    """None (absent), "empty" or "preset"; raises PresetError for anything ganzoo did not write."""
    if not out_dir.exists() and not out_dir.is_symlink():
        return None
    if out_dir.is_symlink() or not out_dir.is_dir():
        raise PresetError(f"{out_dir} exists and is not a folder. Choose another output folder.")
    present = sorted(p.name for p in out_dir.iterdir())
    if not present:
        return "empty"
    foreign = [n for n in present if n not in LAYOUT or not (out_dir / n).is_file() or (out_dir / n).is_symlink()]
    if not is_preset_folder(out_dir) or foreign:
        shown = ", ".join((foreign or present)[:6]) + (" ..." if len(foreign or present) > 6 else "")
        raise PresetError(
            f"{out_dir} already exists and holds files ganzoo did not write ({shown}). ganzoo only replaces "
            f"a preset folder it wrote itself and never deletes anything else: choose a new output folder, "
            f"or move those files away yourself."
        )
    return "preset"


def install_folder(stage, out_dir, kind, layout=LAYOUT):
    """Put the files of `stage` in place as `out_dir`; an old folder of `layout` files there (a
    preset, or a published classifier's) is swapped out whole."""
    _give_plain_folder_mode(stage)
    if kind is None:
        os.rename(stage, out_dir)
        return
    if kind == "empty":
        for name in layout:
            os.replace(stage / name, out_dir / name)
        stage.rmdir()
        return
    old = pathlib.Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.ganzoo-old-", dir=str(out_dir.parent)))
    old.rmdir()
    os.rename(out_dir, old)
    os.rename(stage, out_dir)
    for name in layout:  # only the files of the layout (checked by the caller)
        try:
            (old / name).unlink()
        except FileNotFoundError:
            pass
    old.rmdir()


def _give_plain_folder_mode(folder):
    """mkdtemp's stages are private (0700); the folder put in place gets the mode that mkdir gives
    under the process's umask, so that other users and a file server can read a published folder."""
    umask = os.umask(0o022)
    os.umask(umask)
    os.chmod(folder, 0o777 & ~umask)


def save_preset(gan, out_dir, *, name, dataset, recipe, title=None, status="custom", run=None, trained=None,
                inference=None, metrics=(), paper=None, fid_curve=(), data_source=None, num_samples=64,
                sample_seed=0, discriminator_dtype="float16", repo_id=None, train_command=None, extra=None):
    """Write `gan` as a preset folder; the one writer of the layout (see the module docstring).

    name, title: the model's name and one-line title. dataset: its data set's name (a zoo data
    set such as "cifar10", or what the run read). recipe: the training recipe it follows (a
    manifest entry's `training`, or the run's own). run: the hyper-parameters the run used (default:
    the recipe). trained: {"d_steps", "g_steps"} (default: the GAN's optimizer counts). inference:
    choose_inference_generator's decision (default: by has-EMA alone). metrics: normalised
    metrics of the inference generator ({name, value, protocol}). paper: {fid, fid_protocol,
    source}. fid_curve: the run's fid.jsonl records. status: "published", "partial" or "custom".

    `out_dir` must not exist, be empty, or be a preset folder written by ganzoo (replaced whole);
    anything else is refused and nothing is deleted. Files are written into a temporary sibling
    folder first and moved in place when complete. Returns {filename: {"sha256", "size"}}.
    """
    import keras

    import ganzoo
    from ganzoo.zoo.export import export_generator

    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}; got {status!r}.")
    out_dir = pathlib.Path(out_dir)
    kind = check_target(out_dir)
    has_ema = getattr(gan, "ema_generator", None) is not None
    inference = inference or choose_inference_generator(has_ema)
    generator = inference_model(gan, inference)
    for model, what in ((generator, "generator"), (gan.discriminator, "discriminator")):
        bad = _non_finite(model)
        if bad:
            raise ValueError(f"Refusing to publish: the {what} holds NaN/Inf in {', '.join(bad[:5])}. "
                             f"Publish an earlier checkpoint of the run.")
    recipe = dict(recipe)
    run = dict(run or recipe)
    for settings in (recipe, run):  # a recipe left to take the data's resolution: the model's
        if settings.get("resolution") is None and "resolution" in settings:
            settings["resolution"] = int(generator.resolution)
    trained = dict(trained or {"d_steps": int(gan.d_steps), "g_steps": int(gan.g_steps)})
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = pathlib.Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.ganzoo-stage-", dir=str(out_dir.parent)))
    try:
        generator.save_weights(str(stage / GENERATOR_WEIGHTS))
        export_generator(generator, stage / GENERATOR_KERAS)
        d_dtype = _save_discriminator(gan.discriminator, stage / DISCRIMINATOR_WEIGHTS, discriminator_dtype)
        from ganzoo.utils.images import save_grid

        images, per_class = generator.sample_grid(num_samples, seed=sample_seed)  # conditional: a row per class
        save_grid(images, str(stage / SAMPLES), columns=per_class)
        files = {f: file_record(stage / f) for f in HASHED}
        files[GENERATOR_WEIGHTS]["dtype"] = "float32"
        files[DISCRIMINATOR_WEIGHTS]["dtype"] = d_dtype
        differs = {k: v for k, v in run.items() if k in recipe and v != recipe[k]}
        config = _keras_config(generator, "generator")
        config.update(
            discriminator=_keras_config(gan.discriminator, "discriminator"),
            training={k: v for k, v in run.items()},
            recipe=recipe,
            differs_from_recipe=differs,
            format=FORMAT,
            format_version=FORMAT_VERSION,
        )
        metrics = [dict(m) for m in metrics]
        ours = next((m for m in metrics if m["name"].lower() == "fid"), None)
        paper = dict(paper or {})
        metadata = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": name,
            "title": title or name,
            "status": status,
            "repo_id": repo_id,
            "ganzoo_version": ganzoo.__version__,
            "keras_version": keras.__version__,
            "backend": keras.backend.backend(),
            "date_saved": _now(),
            "parameter_count": {"generator": int(generator.count_params()),
                                "discriminator": int(gan.discriminator.count_params())},
            "trained": {"d_steps": int(trained["d_steps"]), "g_steps": int(trained["g_steps"]),
                        "recipe_steps": int(recipe["steps"]), "ema_decay": run.get("ema_decay")},
            "inference_generator": inference,
            "dataset": {"name": dataset, "source": data_source or dataset, "resolution": int(generator.resolution)},
            "fid": {
                "paper": ({"value": paper.get("fid"), "protocol": paper.get("fid_protocol"),
                           "source": paper.get("source")} if paper.get("fid") is not None else None),
                "ours": _our_fid(ours, inference["generator"]) if ours else None,
            },
            "metrics": metrics,
            "fid_curve": [dict(r) for r in fid_curve],
            "samples": {"num": int(num_samples), "seed": int(sample_seed),
                        **({"per_class": int(per_class)} if per_class else {})},
            "train_command": train_command,
            "files": files,
        }
        metadata.update(extra or {})
        _write_description(stage, config, _jsonable(metadata))
        install_folder(stage, out_dir, kind)
    finally:
        _remove_stage(stage)
    return {f: file_record(out_dir / f) for f in LAYOUT}


def _our_fid(metric, generator):
    """metadata.json's fid.ours: the measured FID of the inference generator, with its protocol."""
    return {"value": metric["value"], "protocol": metric["protocol"], "generator": generator,
            **({"details": metric["details"]} if metric.get("details") else {})}


def _write_description(stage, config, metadata):
    """config.json, metadata.json and the model card (README.md, which lists the two JSON files'
    hashes) into `stage`: the part of a preset that describes the weights."""
    from ganzoo.zoo import card

    (stage / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    (stage / METADATA).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    json_files = {f: file_record(stage / f) for f in (CONFIG, METADATA)}
    (stage / README).write_text(card.model_card(config, metadata, json_files), encoding="utf-8")


def _remove_stage(stage):
    if stage.exists():  # our own staging folder: only files written by this module
        for child in stage.iterdir():
            child.unlink()
        stage.rmdir()


def merge_metrics(old, new):
    """`old` metrics with `new` ones added; a new measurement replaces the old one of the same name
    in place (names compared case-insensitively). Two new ones of one name are refused."""
    names = [m["name"].lower() for m in new]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise PresetError(f"Two new measurements of {', '.join(twice)}: give each metric once.")
    fresh = {m["name"].lower(): dict(m) for m in new}
    merged = [fresh.pop(m["name"].lower(), dict(m)) for m in old]
    return merged + [m for m in (dict(x) for x in new) if m["name"].lower() in fresh]


def add_measurements(folder, metrics, *, sha256=None):
    """Add measurements of a preset's own weights to its description, keeping the weights.

    metrics: normalised metrics ({name, value, protocol[, details]}) of the preset's inference
    generator; each replaces a recorded one of the same name or is added. metadata.json (its
    metrics, its FID when one is given, and "measurements_updated") and the model card are written
    again; the weight files, generator.keras, samples.png and config.json are kept byte for byte.
    The folder is checked first (its files against `sha256`, {filename: hex}, e.g. the manifest's,
    else against its metadata.json), and replaced whole, as save_preset does, only when the new
    description is written. Returns {filename: {"sha256", "size"}} of the layout.
    """
    import shutil

    folder = pathlib.Path(folder)
    if check_target(folder) != "preset":
        raise PresetError(f"{folder} is not a preset folder: there is nothing to add measurements to.")
    provide = local_files(folder, sha256)
    kept = [f for f in LAYOUT if f not in (METADATA, README)]
    paths = {f: pathlib.Path(provide(f)) for f in (*kept, METADATA)}  # every file checked before any write
    config = read_json(paths[CONFIG], f"{CONFIG} of {folder}")
    metadata = read_json(paths[METADATA], f"{METADATA} of {folder}")
    check_format(metadata, f"{folder / METADATA}")
    metrics = [dict(m) for m in metrics]
    if not metrics:
        raise PresetError("No measurements to add.")
    metadata["metrics"] = merge_metrics(metadata.get("metrics") or [], metrics)
    fid = next((m for m in metrics if m["name"].lower() == "fid"), None)
    if fid is not None:
        generator = (metadata.get("inference_generator") or {}).get("generator", "raw")
        metadata.setdefault("fid", {})["ours"] = _our_fid(fid, generator)
    metadata["measurements_updated"] = _now()
    stage = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}.ganzoo-stage-", dir=str(folder.parent)))
    try:
        for name in kept:
            shutil.copy2(paths[name], stage / name)
        _write_description(stage, config, _jsonable(metadata))
        install_folder(stage, folder, "preset")
    finally:
        _remove_stage(stage)
    return {f: file_record(folder / f) for f in LAYOUT}


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_json(path, what):
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except (OSError, ValueError) as error:
        raise hub.IntegrityError(f"{what} ({path}) is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise hub.IntegrityError(f"{what} ({path}) is not a JSON object.")
    return value


def check_format(document, what):
    if document.get("format") != FORMAT:
        raise PresetError(
            f"{what} is not a ganzoo preset file (format {document.get('format')!r}, expected {FORMAT!r}). "
            f"Write presets with `ganzoo publish` or ganzoo.zoo.save_preset."
        )
    if not isinstance(document.get("format_version"), int) or document["format_version"] > FORMAT_VERSION:
        raise PresetError(f"{what} has format_version {document.get('format_version')!r}; this ganzoo reads up to "
                          f"{FORMAT_VERSION}. Upgrade ganzoo.")


def local_files(folder, sha256=None):
    """A file provider for a preset folder: filename -> path, each weight and sample file checked
    against `sha256` ({filename: hex}) when given, else against the folder's metadata.json."""
    folder = pathlib.Path(folder)
    if not (folder / METADATA).is_file():
        if (folder / "checkpoints").is_dir() or (folder / GENERATOR_WEIGHTS).is_file():
            raise PresetError(
                f"{folder} is a training run folder, not a preset. Turn it into one with\n"
                f"    ganzoo publish --checkpoint {folder} --out-dir PRESET_DIR\n"
                f"(or `ganzoo export-preset {folder} --out PRESET_DIR`), then load PRESET_DIR."
            )
        raise PresetError(f"{folder} holds no {METADATA}: it is not a ganzoo preset folder.")
    metadata = read_json(folder / METADATA, f"{METADATA} of {folder}")
    check_format(metadata, f"{folder / METADATA}")
    recorded = metadata.get("files") or {}

    def provide(filename):
        if filename not in LAYOUT:
            raise PresetError(f"{filename!r} is not a file of the preset layout ({', '.join(LAYOUT)}).")
        path = folder / filename
        if not path.is_file():
            raise PresetError(f"{path} is missing: the preset folder is incomplete; write it again.")
        expected = None
        if sha256 and filename in sha256:
            expected = {"sha256": sha256[filename], "size": None}
        elif filename in HASHED:
            expected = recorded.get(filename)
            if expected is None:
                raise hub.IntegrityError(f"{folder / METADATA} records no sha256 for {filename}: it cannot be checked.")
        if expected is not None:
            problem = check_file(path, expected)
            if problem:
                raise hub.IntegrityError(f"Refused {path}: {problem} (from {'sha256=' if sha256 and filename in sha256 else 'metadata.json'}). "
                                         f"The file is corrupt or was changed after the preset was written.")
        return str(path)

    return provide


def _generator_class(config, where):
    from ganzoo.architectures import ARCHITECTURES

    allowed = {f"ganzoo>{g.__name__}": (name, g) for name, (g, _, _) in ARCHITECTURES.items()}
    registered = config.get("registered_name")
    if registered not in allowed:
        raise PresetError(
            f"{where}: the generator class {registered!r} is not one of ganzoo's ({', '.join(sorted(allowed))}); "
            f"ganzoo builds only its own architectures from a preset."
        )
    return allowed[registered]


def _load_weights(model, path, what, where):
    try:
        model.load_weights(path)
    except Exception as error:  # noqa: BLE001 - keras raises ValueError/KeyError/OSError variously
        raise PresetError(
            f"The {what} weights of {where} ({path}) do not fit the architecture in its config.json: {error}. "
            f"The preset's files disagree; write or publish it again."
        ) from error
    bad = _non_finite(model)
    if bad:
        raise hub.IntegrityError(
            f"Refused the {what} weights of {where} ({path}): NaN/Inf in {', '.join(bad[:5])}"
            + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            + ". A diverged or corrupted model is never loaded; publish a finite checkpoint."
        )


def load_preset(files, *, with_discriminator=False, source=None, verified="sha256", name=None):
    """Build the model a preset describes. `files(filename)` returns a verified local path.

    Returns the inference generator (a built keras.Model with `.sample`), or with
    with_discriminator=True a compiled ganzoo.GAN (the run's optimiser settings; both its
    generator and its EMA generator start from the inference generator) for `fit`. The result
    has `.preset_info` (PresetInfo). NaN/Inf weights are refused with IntegrityError.
    """
    import ganzoo

    config = read_json(files(CONFIG), CONFIG)
    metadata = read_json(files(METADATA), METADATA)
    where = source or metadata.get("name") or "the preset"
    check_format(config, f"{CONFIG} of {where}")
    check_format(metadata, f"{METADATA} of {where}")
    architecture, generator_cls = _generator_class(config, f"{CONFIG} of {where}")
    try:
        gconfig = dict(config["config"])
        resolution, z_dim = int(gconfig["resolution"]), int(gconfig["z_dim"])
    except (KeyError, TypeError, ValueError) as error:
        raise PresetError(f"{CONFIG} of {where} has no usable generator config ({error}).") from None
    if not (8 <= resolution <= MAX_RESOLUTION and 1 <= z_dim <= MAX_Z_DIM):
        raise PresetError(f"{CONFIG} of {where} asks for resolution {resolution} and z_dim {z_dim}; ganzoo builds "
                          f"8..{MAX_RESOLUTION} and 1..{MAX_Z_DIM} (the paper's models are 32 or 128, z_dim 128).")
    training = dict(config.get("training") or {})
    if with_discriminator:
        missing = [k for k in ("architecture", "resolution", "normalization", "loss") if k not in training]
        if missing:
            raise PresetError(f"{CONFIG} of {where} lacks training.{', training.'.join(missing)}; it cannot be fine-tuned.")
        if (training["architecture"], int(training["resolution"]), int(training.get("z_dim", z_dim))) != (
                architecture, resolution, z_dim):
            raise PresetError(f"{CONFIG} of {where}: the generator config and training disagree; write it again.")
        gan = ganzoo.build_gan(**{k: training[k] for k in BUILD_KEYS if k in training})
        _load_weights(gan.generator, files(GENERATOR_WEIGHTS), "generator", where)
        if gan.ema_generator is not None:
            gan.ema_generator.set_weights(gan.generator.get_weights())
        _load_weights(gan.discriminator, files(DISCRIMINATOR_WEIGHTS), "discriminator", where)
        model = gan
    else:
        # A conditional or self-attention generator's config says so; the plain family's lacks them.
        extras = {k: int(gconfig[k]) for k in ("num_classes", "class_embedding", "self_attention")
                  if k in gconfig}
        model = generator_cls(resolution=resolution, z_dim=z_dim, name="generator", **extras)
        _load_weights(model, files(GENERATOR_WEIGHTS), "generator", where)
    model.preset_info = info_from_metadata(metadata, source=source or where, verified=verified, name=name)
    return model


def info_from_metadata(metadata, *, source, verified="sha256", name=None):
    trained = metadata.get("trained") or {}
    fid = metadata.get("fid") or {}
    paper, ours = fid.get("paper") or {}, fid.get("ours") or {}
    return PresetInfo(
        name=name or metadata.get("name", "?"),
        source=str(source),
        status=metadata.get("status", "custom"),
        dataset=(metadata.get("dataset") or {}).get("name", "?"),
        d_steps=int(trained.get("d_steps", 0)),
        g_steps=int(trained.get("g_steps", 0)),
        recipe_steps=int(trained.get("recipe_steps", 0)),
        inference_generator=(metadata.get("inference_generator") or {}).get("generator", "raw"),
        paper_fid=paper.get("value"),
        paper_fid_protocol=paper.get("protocol"),
        fid=ours.get("value"),
        fid_protocol=ours.get("protocol"),
        verified=verified,
        files=tuple(sorted((metadata.get("files") or {}).items())),
    )
