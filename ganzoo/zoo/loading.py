"""`ganzoo.load` and `ganzoo.list_models`: pretrained models by manifest name."""
import json

from ganzoo.zoo import hub, manifest

_SUMMARY_FILTERS = {
    "dataset": lambda e: e["dataset"],
    "architecture": lambda e: e["training"]["architecture"],
    "loss": lambda e: e["training"]["loss"],
    "status": lambda e: e["status"],
    "normalization": lambda e: e["training"]["normalization"],
    "penalty": lambda e: e["training"]["penalty"],
    "resolution": lambda e: e["training"]["resolution"],
}


def recipe_message(entry):
    """What to tell a user who asks for the weights of a recipe-only entry."""
    name = entry["name"]
    return (
        f"{name} ({entry['title']}) is a recipe: no weights have been published for it yet, so it "
        f"cannot be loaded. Train it with\n"
        f"    {manifest.train_command(name)}\n"
        f"and publish the run with\n"
        f"    python training/publish.py --config {name} --checkpoint runs/{name}"
    )


def measured_fid(entry):
    for metric in entry.get("metrics", []):
        if metric["name"].lower() == "fid":
            return metric["value"]
    return None


def _valid_values(key):
    """A filter's valid values, from the manifest schema's enums."""
    defs = manifest.load_schema()["$defs"]
    if key in ("dataset", "status"):
        return list(defs["entry"]["properties"][key]["enum"])
    return list(defs["training"]["properties"][key]["enum"])


def list_models(dataset=None, architecture=None, loss=None, status=None, **filters):
    """Summaries of the zoo's models, filtered by dataset, architecture, loss, status
    (or normalization, penalty, resolution). Returns a list of dicts, manifest order.

    An unknown filter value raises ValueError listing the valid ones.
    """
    filters.update(dataset=dataset, architecture=architecture, loss=loss, status=status)
    unknown = set(filters) - set(_SUMMARY_FILTERS)
    if unknown:
        raise ValueError(
            f"list_models() has no filter {', '.join(sorted(unknown))}; filters: {', '.join(_SUMMARY_FILTERS)}."
        )
    rows = list(manifest.entries().values())
    for key, wanted in filters.items():
        if wanted is None:
            continue
        if key == "resolution":
            wanted = int(wanted)
        else:
            valid = _valid_values(key)
            if wanted not in valid:
                raise ValueError(f"Unknown {key} {wanted!r}; valid values: {', '.join(valid)}.")
        rows = [e for e in rows if _SUMMARY_FILTERS[key](e) == wanted]
    return [
        {
            "name": e["name"],
            "title": e["title"],
            "status": e["status"],
            "dataset": e["dataset"],
            "architecture": e["training"]["architecture"],
            "resolution": e["training"]["resolution"],
            "loss": e["training"]["loss"],
            "normalization": e["training"]["normalization"],
            "penalty": e["training"]["penalty"],
            "paper_fid": e["paper"]["fid"],
            "fid": measured_fid(e),
            "repo_id": e["hub"]["repo_id"],
        }
        for e in rows
    ]


def published_files(name, *, revision=None, files=None, progress=True):
    """Verified local paths of a published model's files: {filename: path}.

    `files` defaults to config.json and both weight files. With the manifest's revision (the
    default) every file is checked against the manifest's sha256; with another revision the
    weights are checked against that revision's config.json.
    """
    entry = manifest.get_entry(name)
    if entry["status"] != "published":
        raise hub.NotPublishedError(recipe_message(entry))
    repo_id = entry["hub"]["repo_id"]
    pinned = entry["hub"]["revision"]
    files = list(files or ("config.json", "generator.weights.h5", "discriminator.weights.h5"))
    paths = {}
    if revision is None or revision == pinned:
        revision, hashes = pinned, entry["hub"]["files"]
    else:
        # Another revision: its config.json (not in the manifest) lists its weights' hashes.
        path, _ = hub.fetch_file(repo_id, "config.json", revision=revision, progress=progress)
        config = _read_config(path, name)
        hashes = dict(config.get("files", {}))
        paths["config.json"] = path
    for filename in files:
        if filename in paths:
            continue
        expected = hashes.get(filename)
        if expected is None and filename != "config.json":
            raise hub.IntegrityError(
                f"No sha256 is recorded for {filename} of {name} at revision {revision}, so it cannot be "
                f"verified and will not be loaded. Republish the model with training/publish.py."
            )
        paths[filename], _ = hub.fetch_file(
            repo_id, filename, revision=revision, expected=expected, progress=progress,
            use_mirror=revision == pinned,  # the mirror holds the pinned revision only
        )
    return paths


def _read_config(path, name):
    try:
        with open(path, encoding="utf-8") as handle:
            config = json.load(handle)
    except (OSError, json.JSONDecodeError) as error:
        raise hub.IntegrityError(f"config.json of {name} ({path}) is not valid JSON: {error}") from None
    missing = [key for key in ("training", "files") if key not in config]
    if missing:
        raise hub.IntegrityError(f"config.json of {name} ({path}) lacks {', '.join(missing)}; republish it.")
    return config


def _load_weights(model, path, what, name):
    try:
        model.load_weights(path)
    except Exception as error:  # noqa: BLE001 - keras raises ValueError/KeyError/OSError variously
        raise hub.ZooError(
            f"The {what} weights of {name} ({path}) do not fit the architecture in its config: {error}. "
            f"The published files and the manifest's training config disagree; republish the model."
        ) from error


def load(name, *, with_discriminator=False, revision=None, progress=True):
    """A pretrained model of the zoo, by manifest name.

    Returns the generator (a built keras.Model with `.sample(n, seed=...)`), or with
    with_discriminator=True a compiled `ganzoo.GAN` with the paper's optimiser settings for the
    model, ready for `fit` (batches of disc_iters * batch_size images in [0, 1]).

    Files come from the cache, then the Hub mirror folder, then the Hugging Face Hub at the
    manifest's pinned revision (or `revision`); each is checked against its sha256 first.
    Raises ValueError for an unknown name (listing the closest names), NotPublishedError for
    a recipe-only entry (with the training command), IntegrityError for a file that fails its
    check, ZooError when the files cannot be had.
    """
    entry = manifest.get_entry(name)
    if entry["status"] != "published":
        raise hub.NotPublishedError(recipe_message(entry))
    wanted = ["config.json", "generator.weights.h5"]
    if with_discriminator:
        wanted.append("discriminator.weights.h5")
    paths = published_files(entry["name"], revision=revision, files=wanted, progress=progress)
    config = _read_config(paths["config.json"], entry["name"])
    training = dict(config["training"])

    import ganzoo
    from ganzoo.architectures import build_generator

    if not with_discriminator:
        generator = build_generator(
            training["architecture"], resolution=training["resolution"], z_dim=training["z_dim"]
        )
        _load_weights(generator, paths["generator.weights.h5"], "generator", entry["name"])
        return generator
    gan = ganzoo.build_gan(**training)
    _load_weights(gan.generator, paths["generator.weights.h5"], "generator", entry["name"])
    if getattr(gan, "ema_generator", None) is not None:
        gan.ema_generator.load_weights(paths["generator.weights.h5"])
    _load_weights(gan.discriminator, paths["discriminator.weights.h5"], "discriminator", entry["name"])
    return gan
