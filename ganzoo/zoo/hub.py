"""Where model files come from: the local cache, the Hub mirror folder, the Hugging Face Hub.

`fetch_file` looks in this order and checks every file's size and sha256 before handing out
its path:

1. the cache, $GANZOO_CACHE/hub (huggingface_hub's cache layout: blobs/, snapshots/<commit>/,
   refs/, so `huggingface_hub.try_to_load_from_cache` and `hf cache` see it); a cached file
   whose hash is wrong is deleted (a warning says so) and fetched again;
2. the mirror of the published Hub repos, <checkout>/hub_mirror/<org>/<repo>/ or
   $GANZOO_HUB_DIR/<org>/<repo>/ (read only: a bad file there is skipped with a warning);
3. the Hub: a HEAD request (`huggingface_hub.get_hf_file_metadata`) first, so a file whose
   announced size differs from the expected one is refused before a byte of it is downloaded;
   then a streamed GET that stops at the expected size, at an overall deadline
   ($GANZOO_DOWNLOAD_TIMEOUT seconds, default 900) and when no byte arrives for
   $GANZOO_READ_TIMEOUT seconds (default 30), resumes an interrupted transfer (Range) a few
   times, hashes while it writes to a temporary file and moves it into the cache only when it
   is whole and verified. (huggingface_hub.hf_hub_download reads in 10 MB chunks, so it can
   neither notice a trickling server nor stop an oversized body early.)

Tokens: a Hub token is sent only to the official endpoint (https://huggingface.co), where
huggingface_hub's usual token ($HF_TOKEN or `hf auth login`) is used, or when the caller passes
`token=` explicitly. $HF_TOKEN is never sent to $GANZOO_HUB_ENDPOINT / $HF_ENDPOINT elsewhere.

Offline ($GANZOO_OFFLINE=1 or $HF_HUB_OFFLINE=1, read on each call) skips step 3. The endpoint is
$GANZOO_HUB_ENDPOINT, else $HF_ENDPOINT, else https://huggingface.co; both are read on each call,
unlike huggingface_hub's own constants, which are read once at import.
"""
import os
import pathlib
import re
import sys
import time
import urllib.parse
import warnings

from ganzoo.cache import cache_dir
from ganzoo.utils.files import atomic_output, atomic_stream, write_text
from ganzoo.utils.files import check_file, file_record, sha256_file  # noqa: F401 - hub's names, as before

MIRROR_ENV = "GANZOO_HUB_DIR"
ENDPOINT_ENV = "GANZOO_HUB_ENDPOINT"
OFFLINE_ENVS = ("GANZOO_OFFLINE", "HF_HUB_OFFLINE")
DEADLINE_ENV = "GANZOO_DOWNLOAD_TIMEOUT"
READ_TIMEOUT_ENV = "GANZOO_READ_TIMEOUT"
MAX_BYTES_ENV = "GANZOO_MAX_DOWNLOAD_BYTES"
OFFICIAL_ENDPOINT = "https://huggingface.co"
DEFAULT_DEADLINE = 900.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_MAX_UNVERIFIED_BYTES = 2 << 30  # a file with no expected size: at most 2 GiB
RESUME_ATTEMPTS = 3
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


class ZooError(RuntimeError):
    """A model's files cannot be provided; the message says why and what to do."""


class IntegrityError(ZooError):
    """A file's size or sha256 differs from the expected one (or its weights are not finite): refused."""


class NotPublishedError(ZooError):
    """The manifest entry is a recipe: no weights have been published for it."""


def is_offline():
    return any(os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on") for name in OFFLINE_ENVS)


def endpoint():
    """The endpoint set in the environment ($GANZOO_HUB_ENDPOINT, else $HF_ENDPOINT), or None."""
    value = os.environ.get(ENDPOINT_ENV) or os.environ.get("HF_ENDPOINT") or None
    return value.rstrip("/") if value else None


def endpoint_url():
    """The endpoint downloads go to: endpoint(), else the official Hub."""
    return endpoint() or OFFICIAL_ENDPOINT


def is_official_endpoint(url):
    parts = urllib.parse.urlsplit(url or OFFICIAL_ENDPOINT)
    return parts.scheme == "https" and (parts.hostname or "").lower() == "huggingface.co" and parts.port in (None, 443)


def token_to_send(url, token=None):
    """The token to send to the endpoint `url`: an explicit `token` string as given; False: none;
    None: huggingface_hub's stored token ($HF_TOKEN, `hf auth login`) for the official Hub only.
    """
    if isinstance(token, str):
        return token or None
    if token is False or not is_official_endpoint(url):
        return None
    import huggingface_hub
    from huggingface_hub import constants

    if constants.HF_HUB_DISABLE_IMPLICIT_TOKEN:
        return None
    return huggingface_hub.get_token()


def _float_env(name, default):
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ZooError(f"${name}={raw!r} is not a number of seconds/bytes; unset it or give a positive number.") from None
    if value <= 0:
        raise ZooError(f"${name}={raw!r} must be positive; unset it or give a positive number.")
    return value


def download_deadline():
    return _float_env(DEADLINE_ENV, DEFAULT_DEADLINE)


def read_timeout():
    return _float_env(READ_TIMEOUT_ENV, DEFAULT_READ_TIMEOUT)


def max_unverified_bytes():
    return int(_float_env(MAX_BYTES_ENV, DEFAULT_MAX_UNVERIFIED_BYTES))


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


def check_repo_id(repo_id, what="repo id"):
    """`repo_id` if it is a valid Hub model id 'owner/name' (huggingface_hub's validator), else ValueError."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    problem = None
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        problem = "it must be 'owner/name' (exactly one '/')"
    else:
        try:
            validate_repo_id(repo_id)
        except HFValidationError as error:
            problem = str(error).splitlines()[0]
    if problem:
        raise ValueError(
            f"Invalid {what} {repo_id!r}: {problem}. A Hub model id is 'owner/name' with letters, digits, "
            f"'-', '_' and '.' only (no '..', no '--', no leading or trailing '.' or '-')."
        )
    return repo_id


REVISION_RE = re.compile(r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


def check_revision(revision):
    """`revision` (None, a commit sha, a branch or tag name) if it is safe to use, else ValueError."""
    if revision is None:
        return None
    if not isinstance(revision, str) or not REVISION_RE.match(revision) or revision.endswith("/"):
        raise ValueError(
            f"Invalid revision {revision!r}: give a 40-hex commit sha (recommended) or a branch/tag name "
            f"(letters, digits, '.', '_', '-', '/'; no '..')."
        )
    return revision


def mirror_repo_dir(repo_id, root=None):
    root = pathlib.Path(root) if root is not None else mirror_root()
    if root is None:
        return None
    owner, name = check_repo_id(repo_id).split("/")
    return root / owner / name


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


def fetch_file(repo_id, filename, *, revision, expected=None, use_mirror=True, progress=True, token=None):
    """Path of a verified copy of one file of a published model repo.

    `expected` is {"sha256", "size"}; None means the caller has no hash for the file (it is then
    only bounded in size, by $GANZOO_MAX_DOWNLOAD_BYTES; whether that is acceptable is the
    caller's decision, see ganzoo.zoo.loading). `token`: see `token_to_send`.
    Returns (path, source) with source "cache", "mirror" or "hub".
    """
    check_repo_id(repo_id)
    check_revision(revision)
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
            f"${MIRROR_ENV} to a folder holding {repo_id}/, or upload it with `ganzoo publish "
            f"--repo-id ... --token ...`, which records the revision."
        )
    if is_offline():
        raise ZooError(_unavailable_message(repo_id, filename, revision, "offline mode is on"))
    return _download(repo_id, filename, revision=revision, expected=expected, progress=progress, token=token), "hub"


# ------------------------------------------------------------------------------------------
# The download itself
# ------------------------------------------------------------------------------------------


def _repo_cache_folder(repo_id):
    owner, name = repo_id.split("/")
    return hub_cache_dir() / f"models--{owner}--{name}"


def _hub_errors(where, repo_id, filename, revision):
    """(exception class, message) pairs mapping huggingface_hub's HTTP errors to ZooErrors."""
    from huggingface_hub import errors as hf_errors

    return (
        (hf_errors.RevisionNotFoundError,
         f"The Hub ({where}) has no revision {revision} of {repo_id}. The manifest pins the revision "
         f"it was published at; pass revision=None to use it, or check the revision's spelling."),
        (hf_errors.RemoteEntryNotFoundError,
         f"The Hub ({where}) has no {filename} in {repo_id} at revision {revision} (404). The repo "
         f"does not hold the published layout; republish it with `ganzoo publish`."),
        (hf_errors.RepositoryNotFoundError,
         f"The Hub ({where}) has no repo {repo_id} (or it is private). Check the manifest's hub.repo_id, "
         f"pass token=... for a private repo, or use the mirror (${MIRROR_ENV})."),
    )


def _same_origin(a, b):
    pa, pb = urllib.parse.urlsplit(a), urllib.parse.urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


def _head(repo_id, filename, revision, token):
    """(metadata, token to send, endpoint, error mapper) of one file: huggingface_hub's HEAD request."""
    import httpx2
    import huggingface_hub

    where = endpoint_url()
    send = token_to_send(where, token)
    url = huggingface_hub.hf_hub_url(repo_id, filename, revision=revision, endpoint=where)
    errors = _hub_errors(where, repo_id, filename, revision)

    def mapped(error):
        for cls, message in errors:
            if isinstance(error, cls):
                return ZooError(message)
        return None

    try:
        meta = huggingface_hub.get_hf_file_metadata(
            url, token=send if send else False, timeout=read_timeout(), library_name="ganzoo", endpoint=where
        )
    except httpx2.TransportError as error:
        raise ZooError(_unavailable_message(
            repo_id, filename, revision, f"the Hub at {where} is unreachable ({type(error).__name__}: {error})"
        )) from error
    except Exception as error:  # noqa: BLE001 - huggingface_hub's HTTP errors, mapped below
        known = mapped(error)
        if known is not None:
            raise known from None
        raise ZooError(_unavailable_message(
            repo_id, filename, revision, f"the Hub's answer was an error ({type(error).__name__}: {error})"
        )) from error
    commit = meta.commit_hash
    if not commit or not COMMIT_RE.match(commit):
        raise ZooError(f"The Hub ({where}) did not say which commit of {repo_id} holds {filename} "
                       f"(X-Repo-Commit {commit!r}); it is not a Hugging Face Hub endpoint ganzoo can verify.")
    if COMMIT_RE.match(revision) and commit != revision:
        raise IntegrityError(f"Asked {where} for {filename} of {repo_id} at commit {revision}; it answered with "
                             f"commit {commit}. Refused: check $GANZOO_HUB_ENDPOINT / $HF_ENDPOINT.")
    return meta, send, where, mapped


def resolve_commit(repo_id, revision, *, token=None, filename="config.json"):
    """The commit sha a branch or tag name points at now (a HEAD request on `filename`)."""
    check_repo_id(repo_id)
    check_revision(revision)
    if COMMIT_RE.match(revision):
        return revision
    if is_offline():
        raise ZooError(f"Offline, the revision {revision!r} of {repo_id} cannot be resolved to a commit: "
                       f"give a 40-hex commit sha.")
    return _head(repo_id, filename, revision, token)[0].commit_hash


def _download(repo_id, filename, *, revision, expected, progress, token=None):
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status

    meta, send, where, mapped = _head(repo_id, filename, revision, token)
    commit = meta.commit_hash
    timeout = read_timeout()
    limit = int(expected["size"]) if expected is not None and expected.get("size") is not None else max_unverified_bytes()
    if meta.size is not None and expected is not None and expected.get("size") is not None and meta.size != limit:
        raise IntegrityError(
            f"Refused {filename} of {repo_id}@{revision} before downloading it: the Hub announces {meta.size} "
            f"bytes, the manifest says {limit}. The Hub copy differs from what was published; nothing was "
            f"downloaded or cached. Report it, or republish the model with `ganzoo publish`."
        )
    if meta.size is not None and meta.size > limit:
        raise IntegrityError(
            f"Refused {filename} of {repo_id}@{revision} before downloading it: the Hub announces {meta.size} "
            f"bytes, over the limit of {limit} for a file with no recorded size (${MAX_BYTES_ENV})."
        )
    headers = build_hf_headers(token=send if send else False, library_name="ganzoo")
    if not (send and _same_origin(meta.location, where)):
        headers.pop("authorization", None)
        headers.pop("Authorization", None)
    headers["Accept-Encoding"] = "identity"
    return _stream_into_cache(
        repo_id, filename, revision=revision, commit=commit, location=meta.location, headers=headers,
        size=meta.size, limit=limit, expected=expected, timeout=timeout, progress=progress, mapped=mapped,
        hf_raise_for_status=hf_raise_for_status,
    )


def _progress_bar(total, filename, enabled):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=filename,
                disable=not enabled, file=sys.stderr, leave=False)


def _stream_into_cache(repo_id, filename, *, revision, commit, location, headers, size, limit, expected,
                       timeout, progress, mapped, hf_raise_for_status):
    import httpx2
    from huggingface_hub.utils import get_session

    deadline_seconds = download_deadline()
    deadline = time.monotonic() + deadline_seconds
    folder = _repo_cache_folder(repo_id)
    failures = 0
    http_timeout = httpx2.Timeout(timeout, connect=timeout)
    where = f"{filename} of {repo_id}@{revision}"
    # Hashed while written to a temporary file in blobs/, named by its sha256 there once whole and
    # verified; any failure (a refusal raised below included) leaves no partial file.
    with atomic_stream(folder / "blobs", what="download", name_by_hash=True) as out:
        with _progress_bar(size, filename, progress) as bar:
            while True:
                request_headers = dict(headers)
                if out.size:
                    request_headers["Range"] = f"bytes={out.size}-"
                try:
                    with get_session().stream("GET", location, headers=request_headers, timeout=http_timeout,
                                              follow_redirects=True) as response:
                        if response.status_code >= 400:
                            response.read()
                            try:
                                hf_raise_for_status(response)
                            except Exception as error:  # noqa: BLE001 - mapped to a ZooError
                                raise (mapped(error) or ZooError(
                                    f"Downloading {where} failed: HTTP {response.status_code}.")) from None
                        if out.size and response.status_code != 206:  # the server ignored Range
                            bar.update(-out.size)
                            out.restart()
                        announced = response.headers.get("Content-Length")
                        if announced is not None and announced.isdigit() and out.size + int(announced) > limit:
                            raise IntegrityError(
                                f"Refused {where}: the server announces {out.size + int(announced)} bytes, "
                                f"more than the {limit} expected. Nothing was kept.")
                        for chunk in response.iter_raw():
                            if out.size + len(chunk) > limit:
                                raise IntegrityError(
                                    f"Refused {where}: the server sent more than the {limit} bytes expected; "
                                    f"the download was stopped there and nothing was kept.")
                            out.write(chunk)
                            bar.update(len(chunk))
                            if time.monotonic() > deadline:
                                raise ZooError(
                                    f"Downloading {where} took longer than {deadline_seconds:g} s ({out.size} "
                                    f"bytes received): the server is too slow or trickling. Nothing was kept. "
                                    f"Retry later, use the mirror (${MIRROR_ENV}), or raise ${DEADLINE_ENV}.")
                    if size is None or out.size == size:
                        break
                    raise httpx2.RemoteProtocolError(f"the body ended after {out.size} of {size} bytes")
                except httpx2.TransportError as error:
                    failures += 1
                    if failures > RESUME_ATTEMPTS or time.monotonic() > deadline:
                        raise ZooError(_unavailable_message(
                            repo_id, filename, revision,
                            f"the download failed {failures} times ({type(error).__name__}: {error}); "
                            f"no partial file was kept")) from error
                    time.sleep(min(0.25 * failures, max(0.0, deadline - time.monotonic())))
        if expected is not None:
            actual, problem = out.hexdigest(), None
            if expected.get("size") is not None and out.size != expected["size"]:
                problem = f"it has {out.size} bytes, expected {expected['size']}"
            elif actual != expected["sha256"]:
                problem = f"its sha256 is {actual}, expected {expected['sha256']} (corrupt or tampered)"
            if problem:
                raise IntegrityError(
                    f"Refused {filename} downloaded from {repo_id}@{revision}: {problem}. The file was removed "
                    f"from the cache and not loaded. The Hub copy differs from the hash recorded at publication "
                    f"(the manifest's, or the one you passed): report it, or republish the model.")
    return str(_link_snapshot(folder, out.path, commit, filename, revision))


def _link_snapshot(folder, blob, commit, filename, revision):
    """snapshots/<commit>/<filename> -> ../../blobs/<sha256>, and refs/<branch> for a branch name."""
    snapshot = folder / "snapshots" / commit / filename
    with atomic_output(snapshot, what="cache entry") as temporary:
        try:
            os.symlink(os.path.relpath(blob, snapshot.parent), temporary)
        except (OSError, NotImplementedError):  # no symlinks (Windows without developer mode): a copy
            import shutil

            shutil.copyfile(blob, temporary)
    if not COMMIT_RE.match(revision):
        write_text(folder / "refs" / revision, commit, what="cache ref")
    return snapshot
