"""`ganzoo.load` and `ganzoo.list_models`: trained models by zoo name, Hub handle or folder.

    ganzoo.load("sndcgan-ns-sn-cifar10")                        # a zoo entry (manifest-pinned)
    ganzoo.load("hf://owner/repo@COMMIT", sha256={...})         # any ganzoo preset on the Hub
    ganzoo.load("path/to/preset")                               # a local preset folder

Trust: files of a zoo entry at the revision its manifest pins are checked against the manifest's
sha256. Anything else from the network (another revision of a zoo entry, an hf:// repo that is
not a zoo entry) has no trusted hash: a revision's own metadata cannot vouch for itself. It is
refused unless the caller gives the hashes (`sha256={filename: hex}`) or explicitly turns
verification off (`verify=False`, which warns loudly and marks the model `verified="none"`).
A local folder is checked against its own metadata.json (corruption, not tampering) or `sha256`.
"""
import dataclasses
import logging
import os
import sys
import warnings

from ganzoo.zoo import hub, manifest, preset

HF_PREFIX = "hf://"
LOG = logging.getLogger("ganzoo.zoo")

_SUMMARY_FILTERS = {
    "dataset": lambda e: e["dataset"],
    "architecture": lambda e: e["training"]["architecture"],
    "loss": lambda e: e["training"]["loss"],
    "status": lambda e: e["status"],
    "normalization": lambda e: e["training"]["normalization"],
    "penalty": lambda e: e["training"]["penalty"],
    "resolution": lambda e: e["training"]["resolution"],
}


class UnverifiedFilesWarning(UserWarning):
    """Files were loaded without a trusted sha256 because the caller passed verify=False."""


def recipe_message(entry):
    """What to tell a user who asks for the weights of a recipe-only entry."""
    name = entry["name"]
    return (
        f"{name} ({entry['title']}) is a recipe: no weights have been published for it yet, so it "
        f"cannot be loaded. Train it with\n"
        f"    {manifest.train_command(name)}\n"
        f"and publish the run with\n"
        f"    ganzoo publish --config {name} --checkpoint runs/{name} --metrics EVAL.json"
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

    Each summary has the paper's FID beside ours (`paper_fid`, `fid`) and the steps the weights
    were trained for (`trained_steps`, None for recipes) beside the recipe's (`steps`).
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
            "steps": e["training"]["steps"],
            "trained_steps": (e.get("trained") or {}).get("d_steps"),
            "paper_fid": e["paper"]["fid"],
            "fid": measured_fid(e),
            "repo_id": e["hub"]["repo_id"],
        }
        for e in rows
    ]


# --------------------------------------------------------------------------------------------
# Where a preset's files come from
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Source:
    """A resolved load spec: `files(filename)` gives a verified local path."""

    label: str
    name: str  # None: the preset's own name (metadata.json)
    files: object
    verified: str  # "sha256" (trusted hashes), "local" (the folder's own metadata.json), "none"
    entry: dict = None


def _normalise_hashes(sha256):
    if sha256 is None:
        return None
    if not isinstance(sha256, dict):
        raise ValueError("sha256 must be a dict {filename: 64-hex sha256} (e.g. from the model card's Files table).")
    out = {}
    for filename, value in sha256.items():
        record = value if isinstance(value, dict) else {"sha256": value, "size": None}
        digest = str(record.get("sha256", "")).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"sha256[{filename!r}] is not a 64-hex sha256: {record.get('sha256')!r}.")
        if filename not in preset.LAYOUT:
            raise ValueError(f"sha256 names {filename!r}, not a file of the preset layout ({', '.join(preset.LAYOUT)}).")
        out[filename] = {"sha256": digest, "size": record.get("size")}
    return out


def _unpinned_refusal(what, revision, pinned=None):
    pin = f" (the manifest pins {pinned})" if pinned else ""
    return hub.IntegrityError(
        f"{what} at revision {revision}{pin} has no sha256 that ganzoo trusts: a revision's own metadata cannot "
        f"vouch for itself (a consistent set of tampered or zeroed files would pass). Pass "
        f"sha256={{'config.json': ..., 'metadata.json': ..., 'generator.weights.h5': ...}} (and "
        f"'discriminator.weights.h5' for fine-tuning) from a source you trust, e.g. the publisher's model card; "
        f"or verify=False to load it unverified (not recommended; ganzoo will warn)."
    )


def _remote_source(repo_id, revision, *, label, name, hashes, verify, token, progress, pinned_ok, entry=None,
                   pinned=None):
    """A Source for Hub files: trusted hashes (manifest or caller's), or none with verify=False."""
    if hashes is None and not verify:
        warnings.warn(
            f"LOADING UNVERIFIED FILES: {label} is loaded without any sha256 check (verify=False). A corrupt, "
            f"tampered or zeroed file would be loaded as it is; NaN/Inf weights are still refused. Pass "
            f"sha256={{...}} to verify it.",
            UnverifiedFilesWarning, stacklevel=4,
        )
        if not hub.COMMIT_RE.match(revision) and not hub.is_offline():
            revision = hub.resolve_commit(repo_id, revision, token=token)  # one commit for every file
    elif hashes is None:
        raise _unpinned_refusal(label, revision, pinned)

    def provide(filename):
        expected = None if hashes is None else hashes.get(filename)
        if expected is None and hashes is not None:
            raise hub.IntegrityError(
                f"No sha256 for {filename} of {label}: it cannot be verified and is not loaded. Add it to "
                f"sha256=... (or pass verify=False to skip verification)."
            )
        path, _ = hub.fetch_file(repo_id, filename, revision=revision, expected=expected, progress=progress,
                                 use_mirror=pinned_ok, token=token)
        return path

    return Source(label=label, name=name, files=provide, verified="none" if hashes is None else "sha256",
                  entry=entry)


def _zoo_entry_for_repo(repo_id):
    for entry in manifest.entries().values():
        if entry["hub"]["repo_id"] == repo_id:
            return entry
    return None


def _looks_like_path(spec):
    return os.sep in spec or "/" in spec or "\\" in spec or spec.startswith((".", "~"))


def resolve(spec, *, revision=None, sha256=None, verify=True, token=None, progress=True):
    """The Source of a load spec: a zoo name, 'hf://owner/repo[@revision]' or a preset folder."""
    hashes = _normalise_hashes(sha256)
    if revision is not None:
        hub.check_revision(revision)
    if not isinstance(spec, (str, os.PathLike)):
        raise ValueError(f"A model is a zoo name, 'hf://owner/repo[@revision]' or a folder; got {type(spec).__name__}.")
    text = os.fspath(spec)
    if text.startswith(HF_PREFIX):
        handle = text[len(HF_PREFIX):]
        repo_id, _, at = handle.partition("@")
        hub.check_repo_id(repo_id, "Hub repo id in " + repr(text))
        if at:
            hub.check_revision(at)
            if revision is not None and revision != at:
                raise ValueError(f"{text} names revision {at}, but revision={revision!r} was passed too; give one.")
        revision = at or revision
        entry = _zoo_entry_for_repo(repo_id)
        if entry is not None and entry["status"] in manifest.LOADABLE and hashes is None and \
                revision in (None, entry["hub"]["revision"]):
            return resolve(entry["name"], token=token, progress=progress)
        return _remote_source(repo_id, revision or "main", label=text, name=repo_id.split("/")[1], hashes=hashes,
                              verify=verify, token=token, progress=progress, pinned_ok=False, entry=entry,
                              pinned=entry["hub"]["revision"] if entry else None)
    folder = os.path.expanduser(text)
    if os.path.isdir(folder):
        if revision is not None:
            raise ValueError(f"revision={revision!r} applies to Hub models, not to the folder {folder}.")
        files = preset.local_files(folder, sha256={k: v["sha256"] for k, v in hashes.items()} if hashes else None)
        return Source(label=folder, name=None, files=files, verified="local")
    if _looks_like_path(text):
        raise preset.PresetError(
            f"{text} is not a folder (nor a zoo name, nor 'hf://owner/repo'). Give the folder of a preset "
            f"(written by `ganzoo publish`), a name from `ganzoo list`, or 'hf://owner/repo@COMMIT'."
        )
    entry = manifest.get_entry(text)  # ValueError with the closest names
    if entry["status"] not in manifest.LOADABLE:
        raise hub.NotPublishedError(recipe_message(entry))
    repo_id, pinned = entry["hub"]["repo_id"], entry["hub"]["revision"]
    if revision is None or revision == pinned:
        if hashes is not None:
            raise ValueError(f"{entry['name']} at its pinned revision is verified against the manifest; drop sha256=.")
        return _remote_source(repo_id, pinned, label=entry["name"], name=entry["name"], hashes=entry["hub"]["files"],
                              verify=True, token=token, progress=progress, pinned_ok=True, entry=entry)
    return _remote_source(repo_id, revision, label=f"{entry['name']} ({repo_id})", name=entry["name"], hashes=hashes,
                          verify=verify, token=token, progress=progress, pinned_ok=False, entry=entry, pinned=pinned)


def published_files(spec, *, revision=None, files=None, sha256=None, verify=True, token=None, progress=True):
    """Verified local paths of a preset's files: {filename: path}.

    `files` defaults to config.json, metadata.json and both weight files. Trust rules as `load`.
    """
    source = resolve(spec, revision=revision, sha256=sha256, verify=verify, token=token, progress=progress)
    wanted = list(files or (preset.CONFIG, preset.METADATA, preset.GENERATOR_WEIGHTS, preset.DISCRIMINATOR_WEIGHTS))
    return {filename: source.files(filename) for filename in wanted}


def load(spec, *, with_discriminator=False, revision=None, sha256=None, verify=True, token=None, progress=True):
    """A trained ganzoo model: a zoo name, 'hf://owner/repo[@revision]', or a preset folder.

    Returns the inference generator (a built keras.Model with `.sample(n, seed=...)`), or with
    with_discriminator=True a compiled `ganzoo.GAN` with the run's optimiser settings, ready for
    `fit` (batches of disc_iters * batch_size images in [0, 1]). Either has `.preset_info`
    (ganzoo.zoo.preset.PresetInfo: status, steps trained of the recipe's, our FID beside the
    paper's, which generator, how the files were verified); a one-line summary is logged
    (printed to stderr unless progress=False).

    Zoo names load from the cache, then the Hub mirror folder, then the Hub at the manifest's
    pinned revision, every file checked against the manifest's sha256. `revision` (another Hub
    revision) and hf:// handles need `sha256={filename: hex}` or `verify=False` (see the module
    docstring). `token` is sent to the Hub endpoint in use; without it a token is sent to
    https://huggingface.co only.

    Raises ValueError for an unknown name (listing the closest names) or a bad argument,
    NotPublishedError for a recipe-only entry (with the training command), IntegrityError for a
    file that fails its check or holds NaN/Inf weights, ZooError when the files cannot be had.
    """
    source = resolve(spec, revision=revision, sha256=sha256, verify=verify, token=token, progress=progress)
    model = preset.load_preset(source.files, with_discriminator=with_discriminator, source=source.label,
                               verified=source.verified, name=source.name)
    summary = model.preset_info.summary()
    LOG.info(summary)
    if progress:
        print(f"ganzoo: {summary}", file=sys.stderr)
    return model


def evaluation_target(spec, **load_kwargs):
    """(name, generator, entry) for ganzoo.metrics.evaluator.evaluate_zoo_model: (name, None, None)
    for a zoo name (the evaluator loads it), else the loaded generator and an entry made from
    its preset metadata (its data set; the paper's FID when it follows a zoo recipe)."""
    text = os.fspath(spec)
    if not text.startswith(HF_PREFIX) and not os.path.isdir(os.path.expanduser(text)) and not _looks_like_path(text):
        return text, None, None
    generator = load(text, **load_kwargs)
    info = generator.preset_info
    paper = {"fid": info.paper_fid, "fid_protocol": info.paper_fid_protocol} if info.paper_fid is not None else {}
    return info.name, generator, {"dataset": info.dataset, "paper": paper}
