"""weights_manifest.json, its schema, names, recipes and the `ganzoo list/info` commands (no Keras)."""
import copy
import json
import pathlib
import sys

import pytest

from ganzoo.cli.main import main as cli
from ganzoo.zoo import NotPublishedError, list_models, load, manifest

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Every configuration of the paper's best-model tables, with the values of compare_gan v2.0's
# generate_tasks_lib.py (BestModelSNDCGan, BestModelResnet19, BestModelResnetCifar; each value and
# its line are pinned in tests/unit/test_manifest_recipes.py). The code states all of them: None would
# mean "not stated", and the entry would have to list the key as unverified.
# name -> (architecture, loss, normalization, penalty, penalty weight, lr, beta1, beta2, n_disc, paper FID)
PAPER_BEST = {
    "sndcgan-ns-none-cifar10": ("sndcgan", "ns", "none", "none", 0, 1e-4, 0.5, 0.999, 1, 28.66),
    "sndcgan-ns-sn-cifar10": ("sndcgan", "ns", "spectral", "none", 0, 2e-4, 0.5, 0.999, 1, 25.27),
    "sndcgan-ns-sngp-cifar10": ("sndcgan", "ns", "spectral", "wgan_gp", 10, 2e-4, 0.5, 0.999, 1, 26.00),
    "resnet_cifar-ns-none-cifar10": ("resnet_cifar", "ns", "none", "none", 0, 2e-4, 0.5, 0.999, 5, 28.12),
    "resnet_cifar-ns-sn-cifar10": ("resnet_cifar", "ns", "spectral", "none", 0, 2e-4, 0.5, 0.999, 5, 22.91),
    "resnet_cifar-ns-sngp-cifar10": ("resnet_cifar", "ns", "spectral", "wgan_gp", 1, 2e-4, 0.5, 0.999, 5, 22.73),
    "sndcgan-ns-sngp-celebahq": ("sndcgan", "ns", "spectral", "wgan_gp", 1, 2e-4, 0.5, 0.999, 1, 24.67),
    "resnet19-ns-sngp-celebahq": ("resnet19", "ns", "spectral", "wgan_gp", 1, 2e-4, 0.5, 0.999, 1, 29.04),
    "resnet19-ns-ln-celebahq": ("resnet19", "ns", "layer", "none", 0, 1e-4, 0.5, 0.999, 1, 30.02),
    "resnet19-ns-lngp-lsun_bedroom": ("resnet19", "ns", "layer", "wgan_gp", 0.1451, 1.281e-4, 0.7108, 0.9792, 1, 40.36),
    "resnet19-ls-sn-lsun_bedroom": ("resnet19", "ls", "spectral", "none", 0, 2e-4, 0.5, 0.999, 1, 41.6),
    "sndcgan-ns-sn-lsun_bedroom": ("sndcgan", "ns", "spectral", "none", 0, 2.64e-4, 0.011, 0.966, 1, 53.59),
}


@pytest.fixture(autouse=True)
def installed_manifest(monkeypatch):
    monkeypatch.delenv("GANZOO_MANIFEST", raising=False)


def test_manifest_matches_its_schema():
    jsonschema = pytest.importorskip("jsonschema")
    data = json.loads((ROOT / "weights_manifest.json").read_text())
    schema = manifest.load_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(data)
    assert manifest.validate(data) == []


def test_schema_and_checks_catch_broken_entries():
    pytest.importorskip("jsonschema")
    data = manifest.load_manifest()
    broken = copy.deepcopy(data)
    entry = broken["models"]["sndcgan-ns-none-cifar10"]  # a recipe: no files, no steps
    entry["status"] = "published"  # without its files
    entry["training"]["g_lr"] = -1
    broken["models"]["sndcgan-ns-sn-cifar10x"] = copy.deepcopy(data["models"]["sndcgan-ns-sn-cifar10"])
    problems = "\n".join(manifest.validate(broken))
    assert "generator.weights.h5" in problems  # a published entry lists its files
    assert "g_lr" in problems
    assert "sndcgan-ns-sn-cifar10x" in problems  # bad name
    relabelled = copy.deepcopy(data)
    relabelled["models"]["sndcgan-ns-sn-cifar10"]["training"]["penalty"] = "wgan_gp"
    assert any("expected 'sndcgan-ns-sngp-cifar10'" in p for p in manifest.validate(relabelled))
    with pytest.raises(manifest.ManifestError, match="invalid manifest"):
        manifest.write_manifest(broken, path="/nonexistent/never-written.json")


@pytest.mark.parametrize("name", sorted(PAPER_BEST))
def test_every_paper_best_configuration_is_an_entry(name):
    arch, loss, norm, penalty, weight, lr, beta1, beta2, n_disc, fid = PAPER_BEST[name]
    entry = manifest.get_entry(name)
    t = entry["training"]
    assert (t["architecture"], t["loss"], t["normalization"], t["penalty"]) == (arch, loss, norm, penalty)
    assert t["penalty_weight"] == pytest.approx(weight)
    for key, value in (("g_lr", lr), ("d_lr", lr), ("beta1", beta1), ("beta2", beta2), ("disc_iters", n_disc)):
        if value is not None:
            assert t[key] == pytest.approx(value), key
        else:
            assert key in entry["paper"]["unverified"], key  # a default, and the entry says so
    assert entry["paper"]["fid"] == pytest.approx(fid) and entry["paper"]["in_best_table"]
    assert t["resolution"] == (32 if entry["dataset"] == "cifar10" else 128)
    assert t["batch_size"] == 64 and t["z_dim"] == 128 and t["ema_decay"] is None
    # compare_gan trains every ResNet and every CIFAR10 model 200k steps, SNDCGAN at 128x128 100k.
    sndcgan_128 = t["architecture"] == "sndcgan" and entry["dataset"] != "cifar10"
    assert t["steps"] == (100_000 if sndcgan_128 else 200_000)
    assert set(t) == set(manifest.TRAINING_KEYS)


def test_unknown_name_lists_the_closest_names():
    with pytest.raises(ValueError) as info:
        manifest.get_entry("resnet19-ns-sn-celeba")
    message = str(info.value)
    assert "Unknown model 'resnet19-ns-sn-celeba'" in message
    assert "resnet19-ns-sn-celebahq" in message and "ganzoo list" in message
    with pytest.raises(ValueError, match="resnet_cifar-ns-sngp-cifar10"):
        load("resnet-cifar-ns-sngp-cifar10")


def test_recipe_only_entry_explains_and_gives_the_training_command(capsys, tmp_path):
    name = "resnet19-ns-sngp-celebahq"
    assert manifest.get_entry(name)["status"] == "recipe"
    with pytest.raises(NotPublishedError) as info:
        load(name)
    assert "no weights have been published" in str(info.value)
    assert f"ganzoo train --config {name}" in str(info.value)
    assert cli(["sample", name, "--num", "4", "--out", str(tmp_path / "x.png")]) == 1
    assert f"ganzoo train --config {name}" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
    assert cli(["info", name]) == 0
    assert f"ganzoo train --config {name}" in capsys.readouterr().out


def test_list_models_filters():
    everything = list_models()
    assert [r["name"] for r in everything] == manifest.names()
    cifar = list_models(dataset="cifar10")
    assert len(cifar) == 7 and {r["resolution"] for r in cifar} == {32}  # 6 of the paper's, 1 conditional
    assert [r["name"] for r in list_models(architecture="resnet19", loss="ls")] == ["resnet19-ls-sn-lsun_bedroom"]
    assert all(r["status"] == "recipe" for r in list_models(status="recipe"))
    assert list_models(status="published") == []  # valid, just nothing yet
    partial = [n for n, e in manifest.entries().items() if e["status"] == "partial"]
    assert [r["name"] for r in list_models(status="partial")] == partial
    assert {r["trained_steps"] for r in everything if r["name"] not in partial} == {None}
    assert all(r["trained_steps"] == manifest.get_entry(r["name"])["trained"]["d_steps"] < r["steps"]
               for r in everything if r["name"] in partial)
    assert {r["steps"] for r in everything} == {100_000, 200_000, 250_000}  # 250k: SNGAN-projection
    with pytest.raises(ValueError, match="Unknown dataset 'celeba'; valid values: cifar10, celebahq, lsun_bedroom"):
        list_models(dataset="celeba")
    with pytest.raises(ValueError, match="no filter colour"):
        list_models(colour="red")


def test_cli_list_and_info(capsys):
    assert cli(["list", "--dataset", "cifar10"]) == 0
    out = capsys.readouterr().out
    assert "sndcgan-ns-sn-cifar10" in out and "25.27" in out and "celebahq" not in out
    assert cli(["list", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == len(manifest.names())
    assert cli(["info", "sndcgan-ns-sngp-cifar10", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["training"]["penalty_weight"] == 10
    assert cli(["info", "sndcgan-sn-cifar10"]) == 1
    assert "sndcgan-ns-sn-cifar10" in capsys.readouterr().err


def _with_weights(entry, status, d_steps):
    entry["status"] = status
    entry["trained"] = {"d_steps": d_steps, "g_steps": d_steps}
    entry["hub"]["files"] = {f: {"sha256": "a" * 64, "size": 10} for f in manifest.PUBLISHED_FILES}


def test_partial_status_in_the_schema_and_checks():
    pytest.importorskip("jsonschema")
    data = manifest.load_manifest()
    assert manifest.STATUSES == ("published", "partial", "recipe")
    good = copy.deepcopy(data)
    _with_weights(good["models"]["sndcgan-ns-sn-cifar10"], "partial", 50_000)
    _with_weights(good["models"]["sndcgan-ns-sngp-cifar10"], "published", 200_000)
    assert manifest.validate(good) == []
    bad = copy.deepcopy(good)
    bad["models"]["sndcgan-ns-sn-cifar10"]["trained"]["d_steps"] = 200_000
    bad["models"]["sndcgan-ns-sngp-cifar10"]["trained"]["d_steps"] = 10
    problems = "\n".join(manifest.validate(bad))
    assert "status partial but trained for all 200000 steps" in problems
    assert "status published but trained for 10 of the recipe's 200000 steps" in problems
    untrained = copy.deepcopy(good)
    del untrained["models"]["sndcgan-ns-sn-cifar10"]["trained"]
    assert any("'trained' is a required property" in p for p in manifest.validate(untrained))
    recipe_with_steps = copy.deepcopy(data)
    assert recipe_with_steps["models"]["sndcgan-ns-none-cifar10"]["status"] == "recipe"
    recipe_with_steps["models"]["sndcgan-ns-none-cifar10"]["trained"] = {"d_steps": 5, "g_steps": 5}
    assert manifest.validate(recipe_with_steps)  # a recipe has no trained weights
    missing_file = copy.deepcopy(good)
    del missing_file["models"]["sndcgan-ns-sn-cifar10"]["hub"]["files"]["generator.keras"]
    assert any("generator.keras" in p for p in manifest.validate(missing_file))


def test_dataset_sources_agree_with_the_training_script():
    from ganzoo.cli import train

    for key, value in train.MANIFEST_DATASETS.items():
        assert value in manifest.DATASET_SOURCES[key], key
    assert set(manifest.DATASET_SOURCES) == set(train.MANIFEST_DATASETS)


@pytest.mark.parametrize("command", ["list", "info", "sample", "fetch", "export-preset"])
def test_help_everywhere(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli([command, "--help"])
    assert info.value.code == 0
    assert "usage: ganzoo " + command in capsys.readouterr().out


def test_manifest_is_found_in_checkout_and_install(tmp_path, monkeypatch):
    assert manifest.manifest_path() == ROOT / "weights_manifest.json"
    # A regular install puts it in <prefix>/share/ganzoo (setup.py data_files).
    import setuptools  # noqa: F401 - provides distutils on Python >= 3.12
    import distutils.core

    monkeypatch.chdir(ROOT)
    dist = distutils.core.run_setup(str(ROOT / "setup.py"), stop_after="init")
    assert ("share/ganzoo", ["weights_manifest.json"]) in [(d, list(f)) for d, f in dist.data_files]
    share = tmp_path / "share" / "ganzoo"
    share.mkdir(parents=True)
    (share / "weights_manifest.json").write_text((ROOT / "weights_manifest.json").read_text())
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.setattr(manifest, "__file__", str(tmp_path / "site-packages" / "ganzoo" / "zoo" / "manifest.py"))
    assert manifest.manifest_path() == share / "weights_manifest.json"
    monkeypatch.setenv("GANZOO_MANIFEST", str(tmp_path / "missing.json"))
    with pytest.raises(manifest.ManifestError, match="GANZOO_MANIFEST"):
        manifest.manifest_path()
