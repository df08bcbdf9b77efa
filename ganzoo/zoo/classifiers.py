"""GAN-test's reference classifiers, published and loaded by name like the zoo's models.

    model, info = ganzoo.load_classifier("cifar10-resnet20")   # cache -> hub_mirror/ -> the Hub
    ganzoo eval MODEL --metrics gan_test                       # a cifar10 model uses it by default

weights_manifest.json's `classifiers` object has one entry per published classifier: its data
set, classes and resolution, its real test accuracy, and `hub` (repo id, pinned revision, and the
sha256 and size of each of FILES). FILES are the Keras model, its training record (what
gan_train_test.save_classifier writes beside it: the weights' sha256, the real test accuracy,
epochs, seconds, the recipe) and a card. Each file is checked against the manifest before it is
read (ganzoo.zoo.hub.fetch_file, as for ganzoo.load), then the weights against the record
(gan_train_test.load_classifier).

publish_classifier copies a trained classifier into the mirror folder (ganzoo/classifier-NAME/
under hub_mirror/) with its card and records the hashes in the manifest; with a token it uploads
the folder too and pins the commit.
"""
import datetime
import json
import os
import pathlib
import re
import shutil
import tempfile

from ganzoo.zoo import hub, manifest, preset

MODEL_FILE = "classifier.keras"
RECORD_FILE = "classifier.json"
CARD_FILE = "README.md"
FILES = (CARD_FILE, MODEL_FILE, RECORD_FILE)
SECTION = "classifiers"  # the manifest's key
NAME_PATTERN = r"^[a-z0-9_]+-[a-z0-9_]+$"  # DATASET-ARCHITECTURE, e.g. cifar10-resnet20


def entries(path=None):
    """name -> entry (deep copies with a 'name' key) of the manifest's published classifiers."""
    section = manifest.load_manifest(path).get(SECTION) or {}
    out = {}
    for name, entry in section.items():
        problems = entry_problems(name, entry)
        if problems:
            raise manifest.ManifestError(
                f"The manifest {path or manifest.manifest_path()} has an unsafe classifier {name!r}: "
                + "; ".join(problems) + ". Restore weights_manifest.json (git checkout, or reinstall ganzoo).")
        out[name] = dict(entry, name=name)
    return out


def entry_problems(name, entry):
    """What makes a classifier entry unsafe to use (its names become paths and URLs), as sentences."""
    problems = []
    if not isinstance(name, str) or not re.match(NAME_PATTERN, name):
        problems.append(f"the classifier name {name!r} is not DATASET-ARCHITECTURE (lower case)")
    if not isinstance(entry, dict):
        return problems + ["the entry is not an object"]
    problems += manifest.hub_problems(entry.get("hub"), FILES, "a published classifier")
    files = entry.get("hub", {}).get("files") if isinstance(entry.get("hub"), dict) else None
    if isinstance(files, dict) and sorted(files) != sorted(FILES):
        problems.append(f"hub.files must name exactly {', '.join(FILES)}")
    return problems


def is_published_name(spec):
    """True when `spec` is a string naming no file and looking like no path (a classifier name)."""
    from ganzoo.zoo.loading import _looks_like_path

    if not isinstance(spec, str) or os.path.exists(spec):
        return False
    return not (_looks_like_path(spec) or spec.endswith(".keras"))


def get_entry(name, path=None):
    """The entry of a published classifier; ValueError naming the published ones when unknown."""
    published = entries(path)
    key = str(name).strip().lower()
    if key in published:
        return published[key]
    known = ", ".join(published) or "none yet"
    close = manifest.closest_names(key, list(published), n=3) if published else []
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"Unknown classifier {name!r}: give a published classifier's name (published: {known}) or "
                     f"the path of a .keras file written by training/train_classifier.py.{hint}")


def default_for(dataset, path=None):
    """The name of the most accurate published classifier of `dataset` (a manifest data set name: the
    highest real test accuracy; the first listed among equals), or None."""
    ranked = [(-float(entry.get("real_test_accuracy") or 0.0), order, name)
              for order, (name, entry) in enumerate(entries(path).items()) if entry.get("dataset") == dataset]
    return min(ranked)[2] if ranked else None


def fetch(name, *, progress=True, token=None, path=None):
    """(local path of the .keras file, local path of its record, entry): each file verified against
    the manifest's sha256, from the cache, the mirror, then the Hub at the pinned revision."""
    entry = get_entry(name, path)
    info = entry["hub"]
    paths = {}
    for filename in (MODEL_FILE, RECORD_FILE):
        local, _ = hub.fetch_file(info["repo_id"], filename, revision=info["revision"], expected=info["files"][filename],
                                  use_mirror=True, progress=progress, token=token)
        paths[filename] = local
    return paths[MODEL_FILE], paths[RECORD_FILE], entry


def load_classifier(spec, num_classes=None, image_shape=None, *, progress=True, token=None):
    """A reference classifier, checked: (Keras model, info for the protocol), what the Evaluator's
    gan_classifier takes. `spec` is a published name (`entries()`) or the path of a .keras file with
    its record beside it (gan_train_test.load_classifier's checks either way)."""
    from ganzoo.metrics import gan_train_test

    if is_published_name(spec):
        name = str(spec).strip().lower()
        path, record, _ = fetch(name, progress=progress, token=token)
        return gan_train_test.load_classifier(path, num_classes, image_shape, record_path=record, label=name)
    return gan_train_test.load_classifier(spec, num_classes, image_shape)


# --------------------------------------------------------------------------------------------
# Publishing
# --------------------------------------------------------------------------------------------


def repo_id_for(name, owner="ganzoo"):
    return f"{owner}/classifier-{name}"


def _decay_kind(recipe):
    # Records without the key were trained before the recipe's decay became coupled (PyTorch's): they
    # used Keras' SGD(weight_decay=), which is decoupled.
    kind = recipe.get("weight_decay_kind", "decoupled")
    return {"coupled": "coupled: an L2 term on the kernels, as PyTorch's SGD",
            "decoupled": "decoupled: Keras' SGD weight_decay, w -= lr * wd * w"}.get(kind, kind)


def _architecture(record, short=False):
    """The classifier's network in words, from its record (records before the airbench recipe have
    no recipe name: they are ResNets)."""
    recipe = record.get("recipe") or {}
    if recipe.get("architecture") == "airbench94":
        return "airbench94" if short else "airbench94 (Jordan 2024), with test-time augmentation (6 views)"
    return f"ResNet-{record.get('depth')}" + ("" if short else " for CIFAR (He et al. 2016)")


def _number(value):
    return f"{value:.4g}" if isinstance(value, (int, float)) else value


def _recipe_flags(record):
    recipe = record.get("recipe") or {}
    if recipe.get("architecture") == "airbench94":
        return f"--recipe {recipe.get('name', 'airbench94')}"
    return f"--depth {record.get('depth')}"


def _card(name, entry, record):
    recipe = record.get("recipe") or {}
    lines = [
        "---", "library_name: keras", "tags:", "- ganzoo", "- image-classification", "- gan-evaluation", "---", "",
        f"# {entry['title']}", "",
        f"The fixed classifier of GAN-test for {entry['dataset']} (Shmelkov, Schmid & Alahari 2018, \"How good is "
        f"my GAN?\"), as ganzoo uses it: `ganzoo eval MODEL --metrics gan_test` on a {entry['dataset']} model, or "
        f"`ganzoo.load_classifier(\"{name}\")`.", "",
        "| | |", "|---|---|",
        f"| real test accuracy | {100 * record['real_test_accuracy']:.2f}% on the {record.get('test_images')} "
        f"{entry['dataset']} test images |",
        f"| trained on | the {record.get('train_images')} {entry['dataset']} training images, "
        f"{record.get('epochs')} epochs, seed {record.get('seed')} |",
        f"| architecture | {_architecture(record)}, widths {tuple(recipe.get('widths', ()))} |",
        f"| optimiser | SGD, Nesterov momentum {recipe.get('momentum')}, learning rate {recipe.get('learning_rate')} "
        f"({recipe.get('schedule')} schedule), weight decay {_number(recipe.get('weight_decay'))} ({_decay_kind(recipe)}), "
        f"batch {recipe.get('batch_size')}" + (f", label smoothing {recipe['label_smoothing']}"
                                              if recipe.get("label_smoothing") else "") + " |",
        f"| augmentation | {recipe.get('augmentation')} |",
        f"| input | images in [0, 1], {entry['resolution']}x{entry['resolution']}x3, NHWC; outputs "
        f"{entry['num_classes']} logits |",
        f"| weights sha256 | `{record['sha256']}` (of the float32 weights in order; checked on load) |",
        f"| training time | {record.get('seconds')} s (summed over the processes of a resumed run) |", "",
        "Train it again with", "",
        f"    python training/train_classifier.py --dataset {record.get('dataset')} --epochs {record.get('epochs')} "
        f"{_recipe_flags(record)} --seed {record.get('seed')} --out C.keras", "",
        f"Files: `{MODEL_FILE}` (the Keras model), `{RECORD_FILE}` (its training record), this card.", "",
    ]
    return "\n".join(lines)


def _check_target(folder):
    """None (absent) or "existing" (install_folder's kinds); ValueError for a folder holding anything
    but FILES."""
    if not folder.exists() and not folder.is_symlink():
        return None
    if folder.is_symlink() or not folder.is_dir():
        raise ValueError(f"{folder} exists and is not a folder: choose another output folder.")
    foreign = sorted(p.name for p in folder.iterdir() if p.name not in FILES or not p.is_file() or p.is_symlink())
    if foreign:
        raise ValueError(f"{folder} holds files ganzoo did not write ({', '.join(foreign[:6])}); ganzoo only replaces "
                         "a classifier folder it wrote itself: choose another folder or move those files away.")
    return "existing"


def publish_classifier(keras_path, name, *, dataset=None, title=None, out_dir=None, repo_id=None, token=None,
                       endpoint=None, manifest_path=None, update_manifest=True):
    """Publish a trained classifier (a .keras file with the record train_classifier.py wrote beside
    it): its folder (FILES) in the mirror or `out_dir`, and its manifest entry. With `token`, the
    folder is uploaded to `repo_id` and the manifest pins the new commit. Returns (folder, entry)."""
    from ganzoo.metrics import gan_train_test
    from ganzoo.utils.files import file_record, write_text

    if not re.match(NAME_PATTERN, str(name)):
        raise ValueError(f"classifier name {name!r}: use DATASET-ARCHITECTURE in lower case, e.g. cifar10-resnet20.")
    keras_path = pathlib.Path(keras_path)
    if not keras_path.is_file():
        raise ValueError(f"{keras_path} is not a file: publish the .keras file training/train_classifier.py wrote "
                         "(its record .keras.json beside it).")
    model, info = gan_train_test.load_classifier(str(keras_path))  # the weights must match their record
    if info["classifier_record"] is None:
        raise ValueError(f"{keras_path} has no record beside it ({keras_path}.json, written by "
                         "training/train_classifier.py): a published classifier states its real test accuracy.")
    record = json.loads(pathlib.Path(str(keras_path) + ".json").read_text(encoding="utf-8"))
    dataset = dataset or record.get("dataset")
    if dataset not in manifest.DATASET_SOURCES:
        raise ValueError(f"classifier data set {dataset!r} is not a zoo data set ({', '.join(manifest.DATASET_SOURCES)});"
                         " pass dataset=.")
    repo_id = hub.check_repo_id(repo_id or repo_id_for(name), "repo_id")
    shape = tuple(int(s) for s in model.inputs[0].shape[1:])
    entry = {
        "title": title or f"{_architecture(record, short=True)} classifier of {dataset} (GAN-test)",
        "dataset": dataset, "num_classes": int(model.outputs[0].shape[-1]), "resolution": shape[0],
        "real_test_accuracy": float(record["real_test_accuracy"]), "epochs": int(record.get("epochs", 0)),
        "weights_sha256": info["classifier_sha256"],
        "published": datetime.datetime.now(datetime.timezone.utc).date().isoformat(),
    }
    folder = pathlib.Path(out_dir) if out_dir else hub.mirror_repo_dir(repo_id, hub.default_mirror_root())
    kind = _check_target(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    stage = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}.ganzoo-new-", dir=str(folder.parent)))
    try:
        shutil.copyfile(keras_path, stage / MODEL_FILE)
        shutil.copyfile(str(keras_path) + ".json", stage / RECORD_FILE)
        write_text(stage / CARD_FILE, _card(name, entry, record), what="classifier card")
        preset.install_folder(stage, folder, kind, layout=FILES)  # an old folder swapped out whole
    finally:
        if stage.exists():
            shutil.rmtree(stage)
    files = {f: {"sha256": r["sha256"], "size": r["size"]} for f, r in ((f, file_record(folder / f)) for f in FILES)}
    revision = _upload(folder, repo_id, token, endpoint) if token else None
    entry["hub"] = {"repo_id": repo_id, "revision": revision, "files": files}
    if update_manifest:
        data = manifest.load_manifest(manifest_path)
        data.setdefault(SECTION, {})[name] = entry
        manifest.write_manifest(data, manifest_path)
    return folder, dict(entry, name=name)


def _upload(folder, repo_id, token, endpoint=None):
    """Upload the folder's FILES with HfApi.upload_folder; the new commit's sha."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token, library_name="ganzoo")
    api.create_repo(repo_id, repo_type="model", exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=str(folder),
                             commit_message=f"Publish the classifier {folder.name} with ganzoo",
                             allow_patterns=list(FILES))
    sha = getattr(info, "oid", None)
    if not sha or not hub.COMMIT_RE.match(sha):
        raise RuntimeError(f"The Hub did not return a commit sha for the upload to {repo_id} (got {sha!r}).")
    return sha
