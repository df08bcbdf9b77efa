"""Publish a tiny trained model, then load it back through the loopback Hub.

The model is trained once for this module (one fit step on random data, batch 2, 32x32) and
published with training/publish.py's code: a dry run from its training checkpoint, then an
upload with HfApi patched to commit into the loopback Hub (tests/hub_server.py).
"""
import copy
import hashlib
import importlib.util
import json
import pathlib
import types

import numpy as np
import pytest

import ganzoo
from ganzoo.cli.main import main as cli
from ganzoo.zoo import IntegrityError, hub, load, manifest, publishing
from ganzoo.zoo.loading import published_files
from hub_server import HubServer

ROOT = pathlib.Path(__file__).resolve().parents[1]
NAME = "sndcgan-ns-sn-cifar10"
REPO = f"ganzoo/{NAME}"


def _import_publish_script():
    spec = importlib.util.spec_from_file_location("ganzoo_publish_script", ROOT / "training" / "publish.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


publish_script = _import_publish_script()


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("zoo")
    (tmp / "weights_manifest.json").write_text((ROOT / "weights_manifest.json").read_text())
    with pytest.MonkeyPatch.context() as mp, HubServer() as server:
        mp.setenv("GANZOO_MANIFEST", str(tmp / "weights_manifest.json"))
        mp.setenv("GANZOO_CACHE", str(tmp / "cache"))
        mp.setenv("GANZOO_HUB_DIR", str(tmp / "mirror"))
        mp.setenv("GANZOO_HUB_ENDPOINT", server.endpoint)
        for name in ("GANZOO_OFFLINE", "HF_HUB_OFFLINE"):
            mp.delenv(name, raising=False)
        yield types.SimpleNamespace(tmp=tmp, server=server, manifest=tmp / "weights_manifest.json")


@pytest.fixture(scope="module")
def trained(env):
    """A GAN of NAME's recipe after one fit step, and its training checkpoint folder."""
    from ganzoo.checkpoint import CheckpointManager

    recipe = dict(manifest.training_config(NAME), batch_size=2)
    gan = ganzoo.build_gan(**recipe, seed=0)
    images = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    gan.fit(images, batch_size=2, epochs=1, verbose=0)
    assert gan.d_steps == 1
    run_dir = env.tmp / "run"
    # As training/train.py --model_dir runs/NAME writes it: checkpoints/ with the run's settings.
    CheckpointManager(run_dir / "checkpoints").save(gan, step=gan.d_steps, metadata={"hyper": recipe})
    return types.SimpleNamespace(gan=gan, run_dir=run_dir)


@pytest.fixture(scope="module")
def published(env, trained):
    """Upload through the real publish() with HfApi's network calls patched."""
    import huggingface_hub

    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, self.token, self.endpoint, kwargs))

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        calls.append(("upload_folder", repo_id, self.token, self.endpoint, kwargs))
        allowed = kwargs["allow_patterns"]
        files = {p.name: p.read_bytes() for p in pathlib.Path(folder_path).iterdir() if p.name in allowed}
        return types.SimpleNamespace(oid=env.server.commit(repo_id, files))

    metrics = env.tmp / "eval.json"
    metrics.write_text(json.dumps({"fid": 312.5, "protocol": "test: 4 samples vs 4 random images"}))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
        mp.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
        out_dir, records, revision = publish_script.publish(
            NAME, gan=trained.gan, token="hf_test_token", endpoint=env.server.endpoint,
            metrics_path=str(metrics), num_samples=4,
        )
    return types.SimpleNamespace(out_dir=out_dir, records=records, revision=revision, calls=calls)


def test_publish_dry_run_writes_exactly_the_layout(env, trained):
    before = env.manifest.read_bytes()
    out = env.tmp / "dry"
    out_dir, records, revision = publish_script.publish(
        NAME, str(trained.run_dir), out_dir=str(out), dry_run=True, num_samples=4
    )
    assert revision is None and out_dir == out
    assert sorted(p.name for p in out.iterdir()) == sorted(manifest.PUBLISHED_FILES)
    assert publishing.check_layout(out) == []
    assert env.manifest.read_bytes() == before  # a dry run leaves the manifest alone
    assert env.server.count() == 0  # and uploads nothing
    for filename, record in records.items():
        assert hub.file_record(out / filename) == record
    config = json.loads((out / "config.json").read_text())
    assert config["training"] == manifest.training_config(NAME)
    assert config["trained"]["d_steps"] == 1
    assert config["trained"]["differs_from_recipe"] == {"batch_size": 2}
    assert config["files"]["generator.weights.h5"] == records["generator.weights.h5"]
    assert config["generator"]["resolution"] == 32 and config["discriminator"]["normalization"] == "spectral"
    from huggingface_hub import ModelCard

    card = ModelCard((out / "README.md").read_text())
    assert card.data.library_name == "keras"
    for needle in ("![samples](samples.png)", f'ganzoo.load("{NAME}")', "with_discriminator=True",
                   "gan.fit(dataset)", "| `g_lr` | 0.0002 |", "`batch_size` = 2", "25.27", "Not evaluated yet",
                   records["generator.weights.h5"]["sha256"]):
        assert needle in card.text, needle
    # The weights came from the training checkpoint intact: same samples as the trained model.
    from ganzoo.utils.images import make_grid

    grid = make_grid(trained.gan.generator.sample(4, seed=0))
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(out / "samples.png")), grid)


def test_upload_path_updates_the_manifest(env, published):
    kinds = [c[0] for c in published.calls]
    assert kinds == ["create_repo", "upload_folder"]
    for _, repo_id, token, endpoint, _ in published.calls:
        assert (repo_id, token, endpoint) == (REPO, "hf_test_token", env.server.endpoint)
    assert sorted(published.calls[1][4]["allow_patterns"]) == sorted(manifest.PUBLISHED_FILES)
    assert hub.COMMIT_RE.match(published.revision)
    assert published.out_dir == env.tmp / "mirror" / "ganzoo" / NAME
    entry = manifest.get_entry(NAME)
    assert entry["status"] == "published" and entry["hub"]["revision"] == published.revision
    assert entry["hub"]["files"] == published.records
    assert entry["metrics"][0]["name"] == "fid" and "4 samples" in entry["metrics"][0]["protocol"]
    assert manifest.validate(json.loads(env.manifest.read_text())) == []
    card = (published.out_dir / "README.md").read_text()
    assert "| fid | 312.5 | test: 4 samples vs 4 random images |" in card


def test_load_downloads_verifies_and_matches_the_trained_generator(env, trained, published, monkeypatch):
    monkeypatch.setenv("GANZOO_HUB_DIR", str(env.tmp / "empty-mirror"))  # force the Hub path
    generator = load(NAME)
    assert env.server.count("GET", "/generator.weights.h5") == 1
    np.testing.assert_allclose(generator.sample(4, seed=1), trained.gan.generator.sample(4, seed=1), atol=1e-6)
    # Cache hit: nothing more is asked of the Hub, also offline.
    requests = len(env.server.requests)
    monkeypatch.setenv("GANZOO_OFFLINE", "1")
    paths = published_files(NAME, files=["config.json", "generator.weights.h5"])
    assert len(env.server.requests) == requests
    assert all("snapshots" in p for p in paths.values())


def test_load_with_discriminator_is_ready_to_fit(env, trained, published):
    gan = load(NAME, with_discriminator=True)  # from the mirror this time
    assert isinstance(gan, ganzoo.GAN)
    for optimizer in (gan.generator_optimizer, gan.discriminator_optimizer):
        assert float(optimizer.learning_rate) == pytest.approx(2e-4)
        assert (optimizer.beta_1, optimizer.beta_2, optimizer.epsilon) == (0.5, 0.999, 1e-8)
    assert gan.disc_iters == 1 and gan.d_steps == 0
    for a, b in zip(gan.discriminator.get_weights(), trained.gan.discriminator.get_weights()):
        np.testing.assert_array_equal(a, b)
    images = np.random.default_rng(1).random((2, 32, 32, 3), dtype=np.float32)
    gan.fit(images, batch_size=2, epochs=1, verbose=0)
    assert gan.d_steps == 1 and gan.g_steps == 1


def test_revision_pinning_of_a_published_model(env, published):
    pinned = manifest.get_entry(NAME)["hub"]["revision"]
    folder = published.out_dir
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    newer = b"\x89HDF-not-really" + hashlib.sha256(b"v2").digest()
    config = json.loads(files["config.json"])
    config["files"]["generator.weights.h5"] = {"sha256": hashlib.sha256(newer).hexdigest(), "size": len(newer)}
    files.update({"generator.weights.h5": newer, "config.json": json.dumps(config).encode()})
    sha_v2 = env.server.commit(REPO, files)  # main moves on
    default = published_files(NAME, files=["generator.weights.h5"])
    assert hub.file_record(default["generator.weights.h5"]) == published.records["generator.weights.h5"]
    v2 = published_files(NAME, revision=sha_v2, files=["generator.weights.h5"])
    assert pathlib.Path(v2["generator.weights.h5"]).read_bytes() == newer
    assert f"/resolve/{sha_v2}/generator.weights.h5" in " ".join(p for _, p, _ in env.server.requests)
    # A revision whose files do not match its own config.json is refused.
    bad = dict(files, **{"generator.weights.h5": newer + b"!"})
    sha_bad = env.server.commit(REPO, bad)
    with pytest.raises(IntegrityError):
        published_files(NAME, revision=sha_bad, files=["generator.weights.h5"])
    assert pinned == manifest.get_entry(NAME)["hub"]["revision"]


def test_cli_sample_and_fetch(env, trained, published, tmp_path, capsys):
    out = tmp_path / "samples.npz"
    assert cli(["sample", NAME, "--num", "3", "--seed", "5", "--batch-size", "2", "--out", str(out)]) == 0
    images = np.load(out)["images"]
    np.testing.assert_allclose(images, trained.gan.generator.sample(3, seed=5), atol=1e-6)
    assert cli(["fetch", NAME, "--all-files", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert all(f"{NAME}: {f} verified" in printed for f in manifest.PUBLISHED_FILES)


def test_sample_writers(tmp_path):
    from ganzoo.cli.zoo import _write_images

    images = np.random.default_rng(0).random((5, 8, 8, 3), dtype=np.float32)
    _write_images(images, str(tmp_path / "grid.png"), columns=5)
    _write_images(images, str(tmp_path / "folder"))
    _write_images(images, str(tmp_path / "a.npz"))
    assert sorted(p.name for p in (tmp_path / "folder").iterdir()) == [f"{i:06d}.png" for i in range(5)]
    np.testing.assert_array_equal(np.load(tmp_path / "a.npz")["images"], images)
    from PIL import Image

    assert Image.open(tmp_path / "grid.png").size == (5 * 10 + 2, 12)


def test_publish_refuses_a_model_that_does_not_match_the_recipe(env, trained):
    wrong = copy.deepcopy(manifest.get_entry("sndcgan-ns-none-cifar10"))
    assert wrong["training"]["normalization"] == "none"
    with pytest.raises(ValueError, match="normalization is 'spectral', the recipe says 'none'"):
        publishing.write_repo_folder(trained.gan, "sndcgan-ns-none-cifar10", env.tmp / "never")
    assert not (env.tmp / "never").exists()


def test_publish_refuses_a_checkpoint_of_another_model(env, tmp_path):
    import h5py

    run = tmp_path / "run" / "checkpoints"
    run.mkdir(parents=True)
    with h5py.File(run / "ckpt-000000005.weights.h5", "w") as handle:
        handle.attrs["ganzoo_checkpoint"] = json.dumps({"hyper": {"normalization": "none"}})
    with pytest.raises(ValueError, match="normalization 'none' .*not a sndcgan-ns-sn-cifar10 model"):
        publish_script.publish(NAME, str(tmp_path / "run"), dry_run=True, out_dir=str(tmp_path / "out"))
    with pytest.raises(FileNotFoundError, match="no readable ckpt"):
        publish_script.publish(NAME, str(tmp_path), dry_run=True, out_dir=str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_load_refuses_a_tampered_hub_file(env, published, tmp_path, monkeypatch):
    monkeypatch.setenv("GANZOO_HUB_DIR", str(tmp_path / "no-mirror"))
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cold-cache"))
    files = env.server.repos[REPO]["commits"][published.revision]
    original = files["generator.weights.h5"]
    flipped = bytes(b ^ 0xFF for b in original[4096:4112])  # same size, 16 bytes changed
    tampered = original[:4096] + flipped + original[4112:]
    env.server.tamper(REPO, "generator.weights.h5", tampered, revision=published.revision)
    try:
        with pytest.raises(IntegrityError, match="Refused generator.weights.h5 .*not loaded"):
            load(NAME, progress=False)
    finally:
        env.server.tamper(REPO, "generator.weights.h5", original, revision=published.revision)
    cached = [p.name for p in (tmp_path / "cold-cache").rglob("*") if p.is_file()]
    assert "generator.weights.h5" not in cached and hashlib.sha256(tampered).hexdigest() not in cached, cached


def test_metrics_from_evaluation_records():
    record = {  # as `ganzoo eval --out` writes it
        "model": NAME, "dataset": "cifar10",
        "metrics": {"fid": {"mean": 30.5, "std": 0.25, "values": [30.2, 30.8]}},
        "protocol": {"num_generated": 10000, "real": "cifar10 test", "network": "inception-2015-12-05"},
    }
    (fid,) = publishing.normalize_metrics(record)
    assert fid["name"] == "fid" and fid["value"] == 30.5
    assert fid["details"] == {"std": 0.25, "values": [30.2, 30.8]}
    assert "num_generated: 10000" in fid["protocol"] and "network: inception-2015-12-05" in fid["protocol"]
    assert publishing.normalize_metrics([fid]) == [fid]  # idempotent
    flat = publishing.normalize_metrics({"fid": 12.0, "a": {}, "protocol": {"n": 5}})
    assert flat == [{"name": "fid", "value": 12.0, "protocol": "n: 5"}]
    with pytest.raises(ValueError, match="has no protocol"):
        publishing.normalize_metrics({"fid": 12.0})
