"""Where model files come from: the local cache, the Hub mirror folder, the Hugging Face Hub.

`fetch_file` looks in this order and checks every file's size and sha256 before handing out
its path:

1. the cache, $GANZOO_CACHE/hub (huggingface_hub's cache layout, so hf_hub_download fills it);
   a cached file whose hash is wrong is deleted (a warning says so) and fetched again;
2. the mirror of the published Hub repos, <checkout>/hub_mirror/<org>/<repo>/ or
   $GANZOO_HUB_DIR/<org>/<repo>/ (read only: a bad file there is skipped with a warning);
3. huggingface_hub.hf_hub_download at the pinned revision; a download whose hash is wrong is
   removed from the cache and refused with an IntegrityError.

Offline ($GANZOO_OFFLINE=1 or $HF_HUB_OFFLINE=1, read on each call) skips step 3. The endpoint is
$GANZOO_HUB_ENDPOINT, else $HF_ENDPOINT, else huggingface_hub's default; both are read on each
call, unlike huggingface_hub's own constants, which are read once at import.
"""
import hashlib
import os
import pathlib
import re
import warnings

from ganzoo.cache import cache_dir

MIRROR_ENV = "GANZOO_HUB_DIR"
ENDPOINT_ENV = "GANZOO_HUB_ENDPOINT"
OFFLINE_ENVS = ("GANZOO_OFFLINE", "HF_HUB_OFFLINE")
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_CHUNK = 1 << 20


class ZooError(RuntimeError):
    """A model's files cannot be provided; the message says why and what to do."""


class IntegrityError(ZooError):
    """A file's size or sha256 differs from the manifest's: it is refused."""


class NotPublishedError(ZooError):
    """The manifest entry is a recipe: no weights have been published for it."""


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def file_record(path):
    """{"sha256", "size"} of a local file, as the manifest stores it."""
    return {"sha256": sha256_file(path), "size": os.path.getsize(path)}


def check_file(path, expected):
    """None when `path` matches expected {"sha256", "size"}, else a sentence saying how it differs."""
    size = os.path.getsize(path)
    if expected.get("size") is not None and size != expected["size"]:
        return f"it has {size} bytes, the manifest says {expected['size']} (truncated or replaced)"
    actual = sha256_file(path)
    if actual != expected["sha256"]:
        return f"its sha256 is {actual}, the manifest says {expected['sha256']} (corrupt or tampered)"
    return None


def is_offline():
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in OFFLINE_ENVS)


def endpoint():
    return os.environ.get(ENDPOINT_ENV) or os.environ.get("HF_ENDPOINT") or None


def hub_cache_dir():
    return cache_dir("hub")


def default_mirror_root():
    """Where the mirror is or would be: $GANZOO_HUB_DIR, else hub_mirror/ next to the package."""
    override = os.environ.get(MIRROR_ENV)
    if override:
        return pathlib.Path(override).expanduser()
    return pathlib.Path(__file__).resolve().parents[2] / "hub_mirror"


def mirror_root():
    """The mirror folder: $GANZOO_HUB_DIR, else hub_mirror/ in the source checkout (None if absent)."""
    root = default_mirror_root()
    return root if os.environ.get(MIRROR_ENV) or root.is_dir() else None


def mirror_repo_dir(repo_id, root=None):
    root = pathlib.Path(root) if root is not None else mirror_root()
    return None if root is None else root.joinpath(*repo_id.split("/"))


def _remove_cached(path):
    """Delete a cache entry: the snapshot pointer and the blob it links to."""
    path = pathlib.Path(path)
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        target = None
    for victim in {path, target} - {None}:
        try:
            os.unlink(victim)
        except FileNotFoundError:
            pass


def cached_path(repo_id, filename, revision):
    """The cached file for (repo, file, revision) if there is one, else None."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, filename, cache_dir=str(hub_cache_dir()), revision=revision)
    return found if isinstance(found, str) and os.path.isfile(found) else None


def _unavailable_message(repo_id, filename, revision, reason):
    mirror = mirror_root()
    mirror_text = (
        f"the mirror {mirror_repo_dir(repo_id)}" if mirror is not None else f"a mirror (none set: ${MIRROR_ENV})"
    )
    return (
        f"Cannot get {filename} of {repo_id} at revision {revision}: {reason}. It is not in the cache "
        f"({hub_cache_dir()}) nor in {mirror_text}. Fixes: connect to the network and retry; or set "
        f"${MIRROR_ENV} to a folder holding <org>/<repo>/ copies of the published repos; or, on a machine "
        f"with a warm cache, copy its cache here (set $GANZOO_CACHE to it) and run offline with "
        f"GANZOO_OFFLINE=1 or HF_HUB_OFFLINE=1."
    )


def fetch_file(repo_id, filename, *, revision, expected=None, use_mirror=True, progress=True):
    """Path of a verified copy of one file of a published model repo.

    `expected` is {"sha256", "size"} (None for files whose hash is not known beforehand, such
    as config.json at a revision other than the manifest's: they are taken from the cache or
    downloaded only). Returns (path, source) with source "cache", "mirror" or "hub".
    """
    # 1. The cache (by commit, or any revision when the expected hash is known).
    if revision is not None and (COMMIT_RE.match(revision) or expected is not None):
        path = cached_path(repo_id, filename, revision)
        if path is not None:
            problem = check_file(path, expected) if expected is not None else None
            if problem is None:
                return path, "cache"
            warnings.warn(
                f"Removed {filename} of {repo_id} from the cache ({path}): {problem}. Fetching it again.",
                stacklevel=2,
            )
            _remove_cached(path)
    # 2. The mirror, when the expected hash proves the copy is this revision's.
    if use_mirror and expected is not None:
        folder = mirror_repo_dir(repo_id)
        if folder is not None and (folder / filename).is_file():
            path = folder / filename
            problem = check_file(path, expected)
            if problem is None:
                return str(path), "mirror"
            warnings.warn(
                f"Skipping the mirror's {path}: {problem}. Restore it (git checkout) or delete it; "
                f"trying the Hub instead.",
                stacklevel=2,
            )
    # 3. The Hub.
    if revision is None:
        raise ZooError(
            f"{repo_id} has no pinned Hub revision in the manifest (it was published to the mirror "
            f"only), and the mirror ({mirror_repo_dir(repo_id)}) has no valid {filename}. Set "
            f"${MIRROR_ENV} to a folder holding {repo_id}/, or upload it with training/publish.py "
            f"--repo_id ... --token ..., which records the revision."
        )
    if is_offline():
        raise ZooError(_unavailable_message(repo_id, filename, revision, "offline mode is on"))
    return _download(repo_id, filename, revision=revision, expected=expected, progress=progress), "hub"


def _download(repo_id, filename, *, revision, expected, progress):
    import huggingface_hub
    from huggingface_hub import errors as hf_errors

    where = endpoint() or huggingface_hub.constants.ENDPOINT
    kwargs = {}
    if not progress:
        from tqdm import tqdm as _tqdm

        class _Silent(_tqdm):
            def __init__(self, *args, **kw):
                kw["disable"] = True
                super().__init__(*args, **kw)

        kwargs["tqdm_class"] = _Silent
    try:
        path = huggingface_hub.hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            cache_dir=str(hub_cache_dir()),
            endpoint=endpoint(),
            library_name="ganzoo",
            **kwargs,
        )
    except hf_errors.RevisionNotFoundError:
        raise ZooError(
            f"The Hub ({where}) has no revision {revision} of {repo_id}. The manifest pins the revision "
            f"it was published at; pass revision=None to use it, or check the revision's spelling."
        ) from None
    except hf_errors.RemoteEntryNotFoundError:
        raise ZooError(
            f"The Hub ({where}) has no {filename} in {repo_id} at revision {revision} (404). The repo "
            f"does not hold the published layout; republish it with training/publish.py."
        ) from None
    except hf_errors.RepositoryNotFoundError:
        raise ZooError(
            f"The Hub ({where}) has no repo {repo_id} (or it is private). Check the manifest's hub.repo_id, "
            f"log in with `hf auth login` for private repos, or use the mirror (${MIRROR_ENV})."
        ) from None
    except hf_errors.LocalEntryNotFoundError as error:
        raise ZooError(_unavailable_message(repo_id, filename, revision, f"the Hub at {where} is unreachable")) from error
    except Exception as error:  # noqa: BLE001 - transport errors (httpx2) have no common public base
        # Interrupted transfers end here (huggingface_hub keeps no partial file); so do 5xx answers.
        raise ZooError(
            _unavailable_message(repo_id, filename, revision, f"the download failed ({type(error).__name__}: {error})")
        ) from error
    if expected is not None:
        problem = check_file(path, expected)
        if problem is not None:
            _remove_cached(path)
            raise IntegrityError(
                f"Refused {filename} downloaded from {repo_id}@{revision}: {problem}. The file was removed "
                f"from the cache and not loaded. The Hub copy differs from what the manifest recorded at "
                f"publication: report it, or republish the model with training/publish.py."
            )
    return path
