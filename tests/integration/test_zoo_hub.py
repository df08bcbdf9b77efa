"""File-level zoo tests: the real huggingface_hub client against the loopback Hub (no Keras)."""
import hashlib
import os
import pathlib
import socket
import time

import pytest

from ganzoo.zoo import hub
from hub_server import HubServer

REPO = "ganzoo/test-model"


def record(data):
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


@pytest.fixture
def server():
    with HubServer(max_requests=500) as srv:
        yield srv


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANZOO_HUB_DIR", str(tmp_path / "mirror"))
    for name in ("GANZOO_OFFLINE", "HF_HUB_OFFLINE", "GANZOO_HUB_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def online(server, monkeypatch):
    monkeypatch.setenv("GANZOO_HUB_ENDPOINT", server.endpoint)
    return server


def cache_files(tmp_path):
    root = tmp_path / "cache" / "hub"
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and ".locks" not in p.parts)


def test_download_then_cache_hit(online, isolated):
    data = os.urandom(50_000)
    sha = online.commit(REPO, {"generator.weights.h5": data})
    path, source = hub.fetch_file(REPO, "generator.weights.h5", revision=sha, expected=record(data), progress=False)
    assert source == "hub" and pathlib.Path(path).read_bytes() == data
    assert online.count("GET", "generator.weights.h5") == 1
    requests_before = len(online.requests)
    path2, source2 = hub.fetch_file(REPO, "generator.weights.h5", revision=sha, expected=record(data))
    assert (path2, source2) == (path, "cache")
    assert len(online.requests) == requests_before  # a cache hit sends nothing


def test_revision_pinning(online):
    old, new = os.urandom(20_000), os.urandom(20_000)
    sha_old = online.commit(REPO, {"generator.weights.h5": old})
    sha_new = online.commit(REPO, {"generator.weights.h5": new})
    assert sha_old != sha_new
    path_old, _ = hub.fetch_file(REPO, "generator.weights.h5", revision=sha_old, expected=record(old), progress=False)
    path_new, _ = hub.fetch_file(REPO, "generator.weights.h5", revision=sha_new, expected=record(new), progress=False)
    assert pathlib.Path(path_old).read_bytes() == old
    assert pathlib.Path(path_new).read_bytes() == new
    assert f"/resolve/{sha_old}/" in online.requests[0][1]
    # The pinned old revision is served even though main has moved on; expecting the wrong
    # revision's hash is refused.
    with pytest.raises(hub.IntegrityError):
        hub.fetch_file(REPO, "generator.weights.h5", revision="main", expected=record(old), progress=False)


def test_offline_with_warm_cache(server, isolated, monkeypatch):
    data = os.urandom(10_000)
    sha = server.commit(REPO, {"config.json": data})
    monkeypatch.setenv("GANZOO_HUB_ENDPOINT", server.endpoint)
    path, _ = hub.fetch_file(REPO, "config.json", revision=sha, expected=record(data), progress=False)
    server.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert hub.fetch_file(REPO, "config.json", revision=sha, expected=record(data)) == (path, "cache")
    with pytest.raises(hub.ZooError, match="offline mode is on.*GANZOO_HUB_DIR"):
        hub.fetch_file(REPO, "other.json", revision=sha, expected=record(b"x"))


def _dead_endpoint():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there any more


def test_no_network_names_mirror_and_offline_options(monkeypatch):
    import huggingface_hub.utils._http as hf_http

    monkeypatch.setattr(hf_http.time, "sleep", lambda seconds: None)  # huggingface_hub's retry back-off
    monkeypatch.setenv("GANZOO_HUB_ENDPOINT", _dead_endpoint())
    with pytest.raises(hub.ZooError) as info:
        hub.fetch_file(REPO, "config.json", revision="a" * 40, expected=record(b"{}"), progress=False)
    message = str(info.value)
    assert "unreachable" in message and "GANZOO_HUB_DIR" in message and "HF_HUB_OFFLINE=1" in message


def test_404_missing_file_revision_and_repo(online):
    sha = online.commit(REPO, {"config.json": b"{}"})
    with pytest.raises(hub.ZooError, match="has no generator.weights.h5 .*404"):
        hub.fetch_file(REPO, "generator.weights.h5", revision=sha, expected=record(b"x"), progress=False)
    with pytest.raises(hub.ZooError, match="has no revision"):
        hub.fetch_file(REPO, "config.json", revision="b" * 40, expected=record(b"{}"), progress=False)
    with pytest.raises(hub.ZooError, match="has no repo ganzoo/nope"):
        hub.fetch_file("ganzoo/nope", "config.json", revision=sha, expected=record(b"{}"), progress=False)


def test_tampered_download_is_refused_and_not_cached(online, isolated):
    data = os.urandom(30_000)
    sha = online.commit(REPO, {"generator.weights.h5": data})
    online.tamper(REPO, "generator.weights.h5", data[:-4] + b"evil", revision=sha)
    with pytest.raises(hub.IntegrityError, match="sha256 .*removed from the cache and not loaded"):
        hub.fetch_file(REPO, "generator.weights.h5", revision=sha, expected=record(data), progress=False)
    assert not [f for f in cache_files(isolated) if f.endswith(("generator.weights.h5",)) or "/blobs/" in f]


def test_interrupted_download_leaves_no_partial_file(online, isolated, monkeypatch):
    import huggingface_hub.file_download as file_download

    monkeypatch.setattr(file_download.time, "sleep", lambda seconds: None)  # its retry back-off
    data = os.urandom(200_000)
    sha = online.commit(REPO, {"generator.weights.h5": data})
    online.interrupt(REPO, "generator.weights.h5", times=100)
    with pytest.raises(hub.ZooError, match="download failed"):
        hub.fetch_file(REPO, "generator.weights.h5", revision=sha, expected=record(data), progress=False)
    leftovers = [f for f in cache_files(isolated) if "models--" in f]
    assert leftovers == [], leftovers  # neither the snapshot file nor a blob nor an .incomplete
    # One interruption: huggingface_hub retries, and the result is whole and verified.
    online.interrupt(REPO, "generator.weights.h5", times=1)
    path, source = hub.fetch_file(REPO, "generator.weights.h5", revision=sha, expected=record(data), progress=False)
    assert source == "hub" and pathlib.Path(path).read_bytes() == data


def test_corrupt_cached_file_is_removed_and_fetched_again(online, isolated):
    data = os.urandom(40_000)
    sha = online.commit(REPO, {"generator.weights.h5": data})
    path, _ = hub.fetch_file(REPO, "generator.weights.h5", revision=sha, expected=record(data), progress=False)
    blob = pathlib.Path(path).resolve()
    blob.write_bytes(data[: len(data) // 2])  # as a truncated copy would be
    with pytest.warns(UserWarning, match="Removed generator.weights.h5 .*truncated"):
        path2, source = hub.fetch_file(REPO, "generator.weights.h5", revision=sha, expected=record(data), progress=False)
    assert source == "hub" and pathlib.Path(path2).read_bytes() == data


def test_mirror_is_used_and_a_bad_mirror_file_is_skipped(online, isolated):
    data = os.urandom(10_000)
    sha = online.commit(REPO, {"generator.weights.h5": data})
    folder = isolated / "mirror" / "ganzoo" / "test-model"
    folder.mkdir(parents=True)
    (folder / "generator.weights.h5").write_bytes(data)
    path, source = hub.fetch_file(REPO, "generator.weights.h5", revision=sha, expected=record(data))
    assert source == "mirror" and pathlib.Path(path) == folder / "generator.weights.h5"
    assert online.count() == 0
    (folder / "generator.weights.h5").write_bytes(b"tampered")
    with pytest.warns(UserWarning, match="Skipping the mirror"):
        path, source = hub.fetch_file(REPO, "generator.weights.h5", revision=sha, expected=record(data), progress=False)
    assert source == "hub" and pathlib.Path(path).read_bytes() == data
    assert (folder / "generator.weights.h5").read_bytes() == b"tampered"  # the mirror is never modified


def test_server_is_loopback_only_and_stops():
    srv = HubServer().start()
    assert srv.endpoint.startswith("http://127.0.0.1:")
    port = int(srv.endpoint.rsplit(":", 1)[1])
    srv.stop()
    time.sleep(0.05)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_mirror_only_model_without_a_hub_revision(isolated, monkeypatch):
    monkeypatch.setenv("GANZOO_HUB_ENDPOINT", _dead_endpoint())  # must not be contacted
    data = os.urandom(5_000)
    folder = isolated / "mirror" / "ganzoo" / "test-model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_bytes(data)
    assert hub.fetch_file(REPO, "config.json", revision=None, expected=record(data))[1] == "mirror"
    with pytest.raises(hub.ZooError, match="no pinned Hub revision .*mirror only"):
        hub.fetch_file(REPO, "generator.weights.h5", revision=None, expected=record(b"x"))


# -- hole 5: tokens go only to the official Hub, or where the caller gives one explicitly ----------


def test_hf_token_is_not_sent_to_a_custom_endpoint(online, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_from_env")
    data = os.urandom(3_000)
    sha = online.commit(REPO, {"config.json": data})
    hub.fetch_file(REPO, "config.json", revision=sha, expected=record(data), progress=False)
    sent = [auth for _, _, auth in online.authorizations]
    assert sent and all(auth is None for auth in sent), sent
    # Given explicitly for this endpoint, a token is sent (HEAD and GET).
    other = os.urandom(3_000)
    sha2 = online.commit(REPO, {"config.json": other})
    hub.fetch_file(REPO, "config.json", revision=sha2, expected=record(other), progress=False, token="hf_explicit")
    assert [auth for _, path, auth in online.authorizations if sha2 in path] == ["Bearer hf_explicit"] * 2


def test_token_policy_of_each_endpoint(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_from_env")
    monkeypatch.delenv("HF_HUB_DISABLE_IMPLICIT_TOKEN", raising=False)
    assert hub.token_to_send("https://huggingface.co") == "hf_secret_from_env"
    for url in ("http://huggingface.co", "https://huggingface.co.evil.example", "https://mirror.example",
                "http://127.0.0.1:8080", "https://huggingface.co:8443"):
        assert hub.token_to_send(url) is None, url
    assert hub.token_to_send("https://mirror.example", "hf_mine") == "hf_mine"
    assert hub.token_to_send("https://huggingface.co", False) is None


# -- hole 6: a trickling download times out; an oversized file is refused before its body --------


def test_a_trickling_download_stops_at_the_deadline(online, isolated, monkeypatch):
    monkeypatch.setenv("GANZOO_DOWNLOAD_TIMEOUT", "1.5")
    data = os.urandom(5_000)
    sha = online.commit(REPO, {"generator.weights.h5": data})
    online.trickle(REPO, "generator.weights.h5", 0.05)  # 20 bytes/s: 250 s for the whole file
    start = time.monotonic()
    with pytest.raises(hub.ZooError, match="took longer than 1.5 s .*Nothing was kept"):
        hub.fetch_file(REPO, "generator.weights.h5", revision=sha, expected=record(data), progress=False)
    assert time.monotonic() - start < 10
    assert [f for f in cache_files(isolated) if "models--" in f and not f.endswith(".lock")] == []
    online.trickle(REPO, "generator.weights.h5", None)
    path, _ = hub.fetch_file(REPO, "generator.weights.h5", revision=sha, expected=record(data), progress=False)
    assert pathlib.Path(path).read_bytes() == data


def test_an_oversized_file_is_refused_before_it_is_downloaded(online, isolated):
    data = os.urandom(4_000)
    sha = online.commit(REPO, {"generator.weights.h5": data})
    big = os.urandom(400_000)
    online.tamper(REPO, "generator.weights.h5", big, revision=sha)
    with pytest.raises(hub.IntegrityError, match="announces 400000 bytes, the manifest says 4000.*nothing was downloaded"):
        hub.fetch_file(REPO, "generator.weights.h5", revision=sha, expected=record(data), progress=False)
    assert online.count("HEAD", "generator.weights.h5") == 1
    assert online.count("GET", "generator.weights.h5") == 0  # not a byte of the body was asked for
    # A server whose GET sends more than its HEAD announced is cut off too.
    online.tamper(REPO, "generator.weights.h5", data, revision=sha)
    online.oversend(REPO, "generator.weights.h5", 1_000_000)
    with pytest.raises(hub.IntegrityError, match="more than the 4000"):
        hub.fetch_file(REPO, "generator.weights.h5", revision=sha, expected=record(data), progress=False)
    assert [f for f in cache_files(isolated) if "models--" in f] == []


def test_a_file_with_no_expected_size_is_bounded(online, isolated, monkeypatch):
    monkeypatch.setenv("GANZOO_MAX_DOWNLOAD_BYTES", "1000")
    sha = online.commit(REPO, {"config.json": os.urandom(5_000)})
    with pytest.raises(hub.IntegrityError, match="announces 5000 bytes, over the limit of 1000"):
        hub.fetch_file(REPO, "config.json", revision=sha, expected=None, progress=False)
    assert online.count("GET") == 0


def test_bad_repo_ids_and_revisions_are_refused(online):
    for repo_id in ("../x", "ganzoo/../../etc", "a/b/c", "x", "a--b/c", "/abs/path", ""):
        with pytest.raises(ValueError, match="Invalid repo id"):
            hub.fetch_file(repo_id, "config.json", revision="a" * 40, expected=record(b"{}"))
    for revision in ("../../x", "main/../..", "-rf", "a b"):
        with pytest.raises(ValueError, match="Invalid revision"):
            hub.fetch_file(REPO, "config.json", revision=revision, expected=record(b"{}"))
    assert online.count() == 0
