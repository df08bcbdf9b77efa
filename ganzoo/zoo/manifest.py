"""weights_manifest.json: the zoo's list of models, their recipes, Hub files and metrics.

One entry per model, named ARCH-LOSS-REGULARISER-DATASET (see `NAMING` and docs/zoo.md):

    sndcgan-ns-sn-cifar10          SNDCGAN, non-saturating loss, spectral norm, CIFAR10
    resnet_cifar-ns-sngp-cifar10   ResNet-CIFAR, NS loss, spectral norm + WGAN-GP, CIFAR10
    resnet19-ns-lngp-lsun_bedroom  ResNet19, NS loss, layer norm + WGAN-GP, LSUN-Bedroom

Each entry holds `training` (a ganzoo.recipe.Recipe: what `ganzoo.build_gan` builds and
`ganzoo train --config NAME`), `dataset`, `paper` (the paper's FID and its protocol), `hub`
(repo id, pinned revision, files with sha256 and size), `metrics` (our measurements, each with
its protocol), `trained` (steps the published weights were trained for) and `status`:
"published" (the recipe trained for all its steps), "partial" (the recipe trained for fewer
steps than the paper's; loads like "published") or "recipe" (no weights yet).

The manifest is found at $GANZOO_MANIFEST when set, else next to the source checkout (editable
installs), else where a regular install put it (<prefix>/share/ganzoo/weights_manifest.json).
"""
import copy
import difflib
import json
import os
import pathlib
import site
import sys

from ganzoo.recipe import Recipe, RecipeError
from ganzoo.zoo.preset import LAYOUT

ENV_VAR = "GANZOO_MANIFEST"
FILENAME = "weights_manifest.json"
SCHEMA_PATH = pathlib.Path(__file__).with_name("manifest.schema.json")
PUBLISHED_FILES = LAYOUT  # the preset layout (ganzoo/zoo/preset.py)
TRAINING_KEYS = Recipe.field_names()  # an entry's `training` object is a ganzoo.recipe.Recipe
STATUSES = ("published", "partial", "recipe")
LOADABLE = ("published", "partial")  # statuses with weights
# The data set of an entry -> the `ganzoo train --dataset` values that read it.
DATASET_SOURCES = {
    "cifar10": ("cifar10",),
    "celebahq": ("tfds:celeb_a_hq/128", "celeb_a_hq/128"),
    "lsun_bedroom": ("tfds:lsun/bedroom", "lsun/bedroom"),
}

NORMALIZATION_TOKENS = {"none": "", "spectral": "sn", "layer": "ln", "batch": "bn", "spectral_layer": "snln"}
PENALTY_TOKENS = {"none": "", "wgan_gp": "gp", "dragan": "dragan", "r1": "r1", "l2": "l2"}
NAMING = (
    "ARCH-LOSS-REGULARISER-DATASET; REGULARISER is the normalisation token (sn, ln, bn, snln) "
    "followed by the penalty token (gp, dragan, r1, l2), or 'none' when both are absent; "
    "class-conditional models (training.num_classes > 0) end in -cond"
)

NAME_PATTERN = (
    r"^(sndcgan|resnet_cifar|resnet19)-(ns|minimax|wgan|ls|ls_raw|hinge)-"
    r"(none|(sn|ln|bn|snln)?(gp|dragan|r1|l2)?)-(cifar10|celebahq|lsun_bedroom)(-cond)?$"
)

_CACHE = {}


class ManifestError(ValueError):
    """weights_manifest.json is missing, unreadable or inconsistent."""


def _candidate_paths():
    here = pathlib.Path(__file__).resolve()
    yield here.parents[2] / FILENAME  # source checkout / editable install
    prefixes = [sys.prefix, sys.exec_prefix, sys.base_prefix]
    try:
        prefixes.append(site.getuserbase())
    except Exception:  # pragma: no cover - site can be stripped in embedded interpreters
        pass
    for prefix in dict.fromkeys(prefixes):
        yield pathlib.Path(prefix) / "share" / "ganzoo" / FILENAME


def manifest_path():
    """The weights_manifest.json in use (see the module docstring for the search order)."""
    override = os.environ.get(ENV_VAR)
    if override:
        path = pathlib.Path(override).expanduser()
        if not path.is_file():
            raise ManifestError(
                f"${ENV_VAR} points to {path}, which is not a file. Unset it to use the "
                f"installed manifest, or point it at a weights_manifest.json."
            )
        return path
    tried = []
    for path in _candidate_paths():
        if path.is_file():
            return path
        tried.append(str(path))
    raise ManifestError(
        "weights_manifest.json was not found (looked in: " + ", ".join(tried) + "). Reinstall ganzoo "
        f"(pip install ganzoo, or pip install -e . in a checkout) or set ${ENV_VAR}."
    )


def load_manifest(path=None):
    """The parsed manifest (a dict; a fresh deep copy each call, so callers may edit it)."""
    path = pathlib.Path(path) if path is not None else manifest_path()
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except OSError as error:
        raise ManifestError(f"Cannot read the manifest {path}: {error}") from None
    if key not in _CACHE:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ManifestError(f"The manifest {path} is not valid JSON: {error}") from None
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            raise ManifestError(f"The manifest {path} has no 'models' object.")
        _CACHE.clear()
        _CACHE[key] = data
    return copy.deepcopy(_CACHE[key])


def load_schema():
    """The manifest schema: manifest.schema.json with its `training` definition and "unverified"
    key list derived from ganzoo.recipe.Recipe (a test holds the file equal to this;
    `write_schema()` rewrites it after a Recipe field changes)."""
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    schema["$defs"]["training"] = Recipe.json_schema()
    paper = schema["$defs"]["entry"]["properties"]["paper"]["properties"]
    paper["unverified"]["items"] = {"enum": list(Recipe.field_names())}
    return schema


def write_schema():
    """Rewrite manifest.schema.json from the Recipe (run after changing a Recipe field)."""
    from ganzoo.utils.files import write_text

    write_text(SCHEMA_PATH, json.dumps(load_schema(), indent=2) + "\n")
    return SCHEMA_PATH


def expected_name(entry):
    """The name an entry must have, derived from its training config and data set."""
    t = entry["training"]
    regulariser = NORMALIZATION_TOKENS[t["normalization"]] + PENALTY_TOKENS[t["penalty"]]
    conditional = "-cond" if t.get("num_classes") else ""
    return f"{t['architecture']}-{t['loss']}-{regulariser or 'none'}-{entry['dataset']}{conditional}"


def validate(data=None, *, use_schema=True):
    """Check a manifest dict (default: the installed one); returns a list of problems (empty: valid).

    Checks the JSON schema (when the `jsonschema` package is installed and use_schema is true)
    and what a schema cannot: every name matches its training config, and resolution fits
    the data set.
    """
    data = load_manifest() if data is None else data
    problems = []
    if use_schema:
        try:
            import jsonschema
        except ImportError:
            jsonschema = None
        if jsonschema is not None:
            validator = jsonschema.Draft202012Validator(load_schema())
            for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
                where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
                problems.append(f"{where}: {error.message}")
    for name, entry in (data.get("models") or {}).items():
        try:
            want = expected_name(entry)
        except (KeyError, TypeError):
            continue  # the schema reports the missing fields
        if want != name:
            problems.append(f"models/{name}: the name does not match its config (expected {want!r})")
        resolution = entry.get("training", {}).get("resolution")
        if entry.get("dataset") == "cifar10" and resolution != 32:
            problems.append(f"models/{name}: cifar10 models are 32x32, not {resolution}")
        problems += [f"models/{name}: {p}" for p in entry_problems(name, entry)]
        try:
            Recipe.from_dict(entry.get("training"), where="training").check_schedule()
        except (RecipeError, TypeError) as error:
            problems.append(f"models/{name}: {error}")
        trained, steps = entry.get("trained"), entry.get("training", {}).get("steps")
        status = entry.get("status")
        if status in LOADABLE and isinstance(trained, dict) and isinstance(steps, int):
            d_steps = trained.get("d_steps")
            if isinstance(d_steps, int):
                if status == "partial" and d_steps >= steps:
                    problems.append(f"models/{name}: status partial but trained for all {steps} steps "
                                    f"({d_steps}); it is published")
                if status == "published" and d_steps < steps:
                    problems.append(f"models/{name}: status published but trained for {d_steps} of the "
                                    f"recipe's {steps} steps; it is partial")
    return problems


def entry_problems(name, entry):
    """What makes an entry unsafe to use (bad name, repo id, revision or file names), as sentences.

    Checked on every read (no jsonschema needed): a manifest is data from disk, and its names
    become paths and URLs.
    """
    import re

    problems = []
    if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
        problems.append(f"the model name {name!r} is not ARCH-LOSS-REGULARISER-DATASET")
    if not isinstance(entry, dict):
        return problems + ["the entry is not an object"]
    if entry.get("status") not in STATUSES:
        problems.append(f"status {entry.get('status')!r} is not one of {', '.join(STATUSES)}")
    return problems + hub_problems(entry.get("hub"), PUBLISHED_FILES, "the preset layout")


def hub_problems(hub_info, layout, layout_name):
    """What makes an entry's `hub` object unsafe (repo id, revision, file names and records), as
    sentences; its files must be among `layout`. Shared by the models and the classifiers."""
    import re

    from ganzoo.zoo import hub

    if not isinstance(hub_info, dict):
        return ["it has no hub object"]
    problems = []
    try:
        hub.check_repo_id(hub_info.get("repo_id"), "hub.repo_id")
    except ValueError as error:
        problems.append(str(error))
    revision = hub_info.get("revision")
    if revision is not None and not (isinstance(revision, str) and hub.COMMIT_RE.match(revision)):
        problems.append(f"hub.revision {revision!r} is not a 40-hex commit sha")
    files = hub_info.get("files")
    if not isinstance(files, dict):
        return problems + ["hub.files is not an object"]
    for filename, record in files.items():
        if filename not in layout:
            problems.append(f"hub.files names {filename!r}, not a file of {layout_name} ({', '.join(layout)})")
        elif not (isinstance(record, dict) and isinstance(record.get("sha256"), str)
                  and re.match(r"^[0-9a-f]{64}$", record["sha256"]) and isinstance(record.get("size"), int)):
            problems.append(f"hub.files[{filename!r}] needs a 64-hex sha256 and an integer size")
    return problems


def _checked(name, entry, path):
    problems = entry_problems(name, entry)
    if problems:
        raise ManifestError(
            f"The manifest {path or manifest_path()} has an unsafe entry {name!r}: " + "; ".join(problems)
            + ". Restore weights_manifest.json (git checkout, or reinstall ganzoo) or fix the entry."
        )
    return dict(entry, name=name)


def entries(path=None):
    """All entries, as an ordered dict name -> entry (deep copies, each with a 'name' key).

    Raises ManifestError for an entry whose name, repo id, revision or file names are unsafe.
    """
    models = load_manifest(path)["models"]
    return {name: _checked(name, entry, path) for name, entry in models.items()}


def names(path=None):
    return list(load_manifest(path)["models"])


def closest_names(name, candidates, n=5):
    """Known names closest to `name`: string similarity first, then shared name parts."""
    name = str(name).strip().lower()
    close = difflib.get_close_matches(name, candidates, n=n, cutoff=0.6)
    if len(close) < n:
        parts = set(name.replace("_", "-").split("-"))
        def overlap(candidate):
            cparts = set(candidate.replace("_", "-").split("-"))
            return (len(parts & cparts), difflib.SequenceMatcher(None, name, candidate).ratio())
        for candidate in sorted(candidates, key=overlap, reverse=True):
            if candidate not in close:
                close.append(candidate)
            if len(close) >= n:
                break
    return close[:n]


def get_entry(name, path=None):
    """The manifest entry for `name` (a deep copy with a 'name' key).

    Raises ValueError naming the closest known names when `name` is unknown.
    """
    all_entries = entries(path)
    if not isinstance(name, str):
        raise ValueError(f"A model name must be a string, got {type(name).__name__}.")
    key = name.strip()
    if key in all_entries:
        return all_entries[key]
    if key.lower() in all_entries:
        return all_entries[key.lower()]
    suggestions = closest_names(key, list(all_entries))
    raise ValueError(
        f"Unknown model {name!r}. Closest known names: {', '.join(suggestions)}. "
        f"Names are {NAMING}. Run `ganzoo list` to see all {len(all_entries)} models."
    )


def training_config(name, path=None):
    """The entry's `training` object: keyword arguments for `ganzoo.build_gan`."""
    return dict(get_entry(name, path)["training"])


def load_recipe(name, path=None):
    """The recipe of the zoo entry `name`, a ganzoo.recipe.Recipe (also `ganzoo.load_recipe`)."""
    return Recipe.from_dict(training_config(name, path), where=f"the manifest entry {name}'s training")


def train_command(name):
    """The shell command that trains `name` from scratch."""
    return f"ganzoo train --config {name} --model_dir runs/{name}"


def write_manifest(data, path=None):
    """Write a manifest dict atomically (validated first; refuses to write an invalid one)."""
    path = pathlib.Path(path) if path is not None else manifest_path()
    problems = validate(data)
    if problems:
        raise ManifestError("Refusing to write an invalid manifest:\n  " + "\n  ".join(problems))
    from ganzoo.utils.files import write_text

    write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n", what="manifest")
    _CACHE.clear()
    return path
