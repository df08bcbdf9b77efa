"""GAN-test's reference classifiers published and loaded by name (ganzoo/zoo/classifiers.py): a tiny
classifier of the recipe written to a temporary mirror and manifest, loaded back from the mirror and
from the loopback Hub, every file checked; tampering, foreign folders and unknown names refused; the
evaluator's default; and the published CIFAR10 classifier of the real manifest, if there is one,
measured again on real test images."""
import json
import os
import pathlib
import shutil
import stat

import numpy as np
import pytest

from ganzoo.metrics import gan_train_test as gtt
from ganzoo.zoo import classifiers, hub, manifest
from hub_server import HubServer
from test_gan_train_test import RES, K, FakeGenerator, class_images

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A depth-8 classifier of the recipe on 3 colour classes, saved with its record."""
    labels = np.arange(90) % K
    model = gtt.train_classifier(class_images(labels, 0), labels, K, epochs=4, batch_size=16, depth=8, augment=False)
    test = np.arange(30) % K
    out = tmp_path_factory.mktemp("clf") / "tiny.keras"
    gtt.save_classifier(model, out, {"dataset": "cifar10", "num_classes": K, "epochs": 4, "depth": 8, "seed": 0,
                                     "train_images": 90, "test_images": 30, "seconds": 1.0,
                                     "real_test_accuracy": gtt.accuracy(model, class_images(test, 5), test),
                                     "recipe": dict(gtt.CLASSIFIER_RECIPE, epochs=4, depth=8)})
    return out, model


@pytest.fixture
def zoo(tmp_path, monkeypatch):
    """A copy of the real manifest without classifiers, an empty mirror and cache, no Hub."""
    data = json.loads((REPO_ROOT / "weights_manifest.json").read_text())
    data.pop(classifiers.SECTION, None)
    path = tmp_path / "weights_manifest.json"
    path.write_text(json.dumps(data, indent=2))
    monkeypatch.setenv("GANZOO_MANIFEST", str(path))
    monkeypatch.setenv("GANZOO_HUB_DIR", str(tmp_path / "mirror"))
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANZOO_OFFLINE", "1")
    return tmp_path


def test_publish_then_load_by_name(trained, zoo):
    path, model = trained
    folder, entry = classifiers.publish_classifier(path, "cifar10-tiny8")
    assert folder == zoo / "mirror" / "ganzoo" / "classifier-cifar10-tiny8"
    assert sorted(p.name for p in folder.iterdir()) == sorted(classifiers.FILES)
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask  # readable as a mkdir'd folder, not mkdtemp's 0700
    folder2, _ = classifiers.publish_classifier(path, "cifar10-tiny8")  # republished: the swapped-in folder too
    assert stat.S_IMODE(folder2.stat().st_mode) == 0o777 & ~umask
    saved = json.loads((zoo / "weights_manifest.json").read_text())[classifiers.SECTION]["cifar10-tiny8"]
    assert saved["hub"]["revision"] is None and saved["num_classes"] == K and saved["resolution"] == RES
    assert saved["weights_sha256"] == gtt.classifier_sha256(model)
    assert manifest.validate() == []  # the schema knows the section
    card = (folder / "README.md").read_text()
    assert "GAN-test" in card and f"{100 * saved['real_test_accuracy']:.2f}%" in card
    assert "weight decay 0.0005 (coupled: an L2 term on the kernels" in card  # the recipe's record says so

    loaded, info = classifiers.load_classifier("cifar10-tiny8", num_classes=K, image_shape=(RES, RES, 3))
    assert info["classifier"] == "cifar10-tiny8" and info["classifier_sha256"] == saved["weights_sha256"]
    assert info["classifier_real_accuracy"] == saved["real_test_accuracy"]
    images = class_images(np.arange(12) % K, 7)
    np.testing.assert_allclose(gtt.predict(loaded, images), gtt.predict(model, images), atol=1e-6)
    assert classifiers.default_for("cifar10") == "cifar10-tiny8" and classifiers.default_for("celebahq") is None
    # With two classifiers of a data set, the default is the more accurate, wherever it is listed.
    worse = path.parent / "worse.keras"
    shutil.copyfile(path, worse)
    record = json.loads(pathlib.Path(str(path) + ".json").read_text())
    pathlib.Path(str(worse) + ".json").write_text(json.dumps(dict(record, real_test_accuracy=0.5)))
    classifiers.publish_classifier(worse, "cifar10-aaa")
    listed = classifiers.entries()
    assert listed["cifar10-aaa"]["real_test_accuracy"] == 0.5 < listed["cifar10-tiny8"]["real_test_accuracy"]
    assert classifiers.default_for("cifar10") == "cifar10-tiny8"


def test_ganzoo_list_shows_the_classifiers(trained, zoo, capsys):
    from ganzoo.cli.main import main

    classifiers.publish_classifier(trained[0], "cifar10-tiny8")
    capsys.readouterr()
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    accuracy = json.loads((zoo / "weights_manifest.json").read_text())[classifiers.SECTION]["cifar10-tiny8"][
        "real_test_accuracy"]
    assert "GAN-test classifiers" in out and f"cifar10-tiny8  cifar10  {100 * accuracy:.2f}%" in out
    assert main(["list", "--dataset", "celebahq"]) == 0
    assert "GAN-test classifiers" not in capsys.readouterr().out
    assert main(["info", "cifar10-tiny8"]) == 0
    out = capsys.readouterr().out
    assert f"real test accuracy: {100 * accuracy:.2f}%" in out and 'ganzoo.load_classifier("cifar10-tiny8")' in out
    assert "classifier.keras" in out and "(none: mirror only)" in out
    assert main(["info", "cifar10-tiny8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["weights_sha256"] == gtt.classifier_sha256(trained[1])


def test_a_tampered_mirror_file_is_refused_and_left_alone(trained, zoo):
    folder, _ = classifiers.publish_classifier(trained[0], "cifar10-tiny8")
    target = folder / classifiers.MODEL_FILE
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="Skipping the mirror"), pytest.raises(hub.ZooError, match="no pinned Hub"):
        classifiers.load_classifier("cifar10-tiny8")
    assert target.read_bytes() == bytes(data)  # never modified, never loaded


def test_loads_from_the_hub_at_the_pinned_revision(trained, zoo, monkeypatch):
    folder, entry = classifiers.publish_classifier(trained[0], "cifar10-tiny8")
    with HubServer(max_requests=200) as server:
        files = {f: (folder / f).read_bytes() for f in classifiers.FILES}
        sha = server.commit(entry["hub"]["repo_id"], files)
        data = json.loads((zoo / "weights_manifest.json").read_text())
        data[classifiers.SECTION]["cifar10-tiny8"]["hub"]["revision"] = sha
        manifest.write_manifest(data)
        shutil.rmtree(folder)  # no mirror copy: the Hub it is
        monkeypatch.delenv("GANZOO_OFFLINE")
        monkeypatch.setenv("GANZOO_HUB_ENDPOINT", server.endpoint)
        model, info = classifiers.load_classifier("cifar10-tiny8", progress=False)
        assert info["classifier_sha256"] == entry["weights_sha256"]
        assert server.count("GET", classifiers.MODEL_FILE) == 1
        server.tamper(entry["hub"]["repo_id"], classifiers.RECORD_FILE, b"{}")
        shutil.rmtree(zoo / "cache")
        with pytest.raises(hub.ZooError):
            classifiers.load_classifier("cifar10-tiny8", progress=False)


def test_refusals_name_the_problem(trained, zoo, tmp_path):
    path, _ = trained
    with pytest.raises(ValueError, match="Unknown classifier 'cifar10-resnet99'.*published: none yet"):
        classifiers.load_classifier("cifar10-resnet99")
    with pytest.raises(ValueError, match="DATASET-ARCHITECTURE"):
        classifiers.publish_classifier(path, "Tiny Classifier")
    with pytest.raises(ValueError, match="missing.keras is not a file"):
        classifiers.publish_classifier(tmp_path / "missing.keras", "cifar10-tiny8")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="did not write.*notes.txt"):
        classifiers.publish_classifier(path, "cifar10-tiny8", out_dir=foreign)
    assert (foreign / "notes.txt").read_text() == "mine"
    bare = tmp_path / "bare.keras"
    shutil.copyfile(path, bare)  # no record beside it
    with pytest.raises(ValueError, match="no record beside it"):
        classifiers.publish_classifier(bare, "cifar10-tiny8")
    classifiers.publish_classifier(path, "cifar10-tiny8")
    with pytest.raises(ValueError, match="Did you mean 'cifar10-tiny8'"):
        classifiers.load_classifier("cifar10-tiny9")
    # Publishing again replaces the folder it wrote, whole.
    folder, _ = classifiers.publish_classifier(path, "cifar10-tiny8", title="again")
    assert "# again" in (folder / "README.md").read_text()


def test_unsafe_classifier_entries_are_refused_on_read(trained, zoo):
    classifiers.publish_classifier(trained[0], "cifar10-tiny8")
    path = zoo / "weights_manifest.json"
    good = json.loads(path.read_text())
    for mutate, needle in (
        (lambda e: e["hub"].__setitem__("repo_id", "../../outside"), "Invalid hub.repo_id"),
        (lambda e: e["hub"]["files"].__setitem__("../../evil.keras", {"sha256": "0" * 64, "size": 1}),
         "not a file of a published classifier"),
        (lambda e: e["hub"]["files"].pop(classifiers.RECORD_FILE), "must name exactly"),
        (lambda e: e["hub"].__setitem__("revision", "../main"), "not a 40-hex commit"),
    ):
        broken = json.loads(json.dumps(good))
        mutate(broken[classifiers.SECTION]["cifar10-tiny8"])
        path.write_text(json.dumps(broken))
        with pytest.raises(manifest.ManifestError, match=f"unsafe classifier 'cifar10-tiny8'.*{needle}"):
            classifiers.load_classifier("cifar10-tiny8")
        assert manifest.validate(broken)  # the schema says so too
    path.write_text(json.dumps(good))


def test_ganzoo_eval_defaults_to_the_data_sets_classifier(trained, zoo, tmp_path, monkeypatch, capsys):
    """`ganzoo eval MODEL --metrics gan_test` without --classifier: the published classifier of the
    model's data set, loaded by name (files checked) and named in the record; --classifier NAME too."""
    from ganzoo.cli import evaluation
    from ganzoo.cli import main as cli

    classifiers.publish_classifier(trained[0], "cifar10-tiny8")
    datasets = {"right": "cifar10", "elsewhere": "celebahq"}
    monkeypatch.setattr(evaluation, "_eval_target",
                        lambda args: (args.model, FakeGenerator(), {"dataset": datasets[args.model]}))

    def ganzoo_eval(model, *more):
        out = tmp_path / f"{model}{len(more)}.json"
        code = cli.main(["eval", model, "--metrics", "gan_test", "--num-samples", "60", "--sample-sets", "1",
                         "--out", str(out), "--no-progress", *more])
        return code, (json.loads(out.read_text()) if code == 0 else None)

    capsys.readouterr()
    code, record = ganzoo_eval("right")
    assert code == 0 and "the published classifier of cifar10, cifar10-tiny8" in capsys.readouterr().err
    protocol = record["protocol"]["gan_train_test"]
    assert protocol["classifier"] == "cifar10-tiny8" and protocol["classifier_record"] == classifiers.RECORD_FILE
    assert protocol["classifier_sha256"] == gtt.classifier_sha256(trained[1])
    assert record["metrics"]["gan_test"]["mean"] > 0.9
    code, record = ganzoo_eval("elsewhere", "--classifier", "cifar10-tiny8")
    assert code == 0 and record["protocol"]["gan_train_test"]["classifier"] == "cifar10-tiny8"
    assert ganzoo_eval("elsewhere")[0] == 1  # no classifier of celebahq is published
    assert "gan_test needs the fixed classifier" in capsys.readouterr().err
    assert ganzoo_eval("right", "--classifier", "cifar10-resnet99")[0] == 1
    assert "Unknown classifier 'cifar10-resnet99'" in capsys.readouterr().err


def _published():
    data = json.loads((REPO_ROOT / "weights_manifest.json").read_text())
    return sorted((data.get(classifiers.SECTION) or {}).items())


@pytest.mark.parametrize("name,entry", _published() or [pytest.param(None, None, marks=pytest.mark.skip(
    reason="no classifier is published in weights_manifest.json"))])
def test_the_published_classifier_is_what_its_card_says(name, entry, monkeypatch, tmp_path):
    """The real mirror's files match the manifest, and the classifier's accuracy on 1,000 real
    test images is its recorded real test accuracy within sampling error."""
    monkeypatch.setenv("GANZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANZOO_OFFLINE", "1")
    monkeypatch.delenv("GANZOO_MANIFEST", raising=False)
    monkeypatch.delenv("GANZOO_HUB_DIR", raising=False)
    model, info = classifiers.load_classifier(name)
    assert info["classifier_sha256"] == entry["weights_sha256"]
    assert info["classifier_real_accuracy"] == entry["real_test_accuracy"]
    images, labels, _ = gtt.labelled_images(entry["dataset"], "test")
    pick = np.random.default_rng(0).choice(len(labels), 1000, replace=False)
    measured = gtt.accuracy(model, images[pick], labels[pick])
    # binomial standard error at n=1000 is under 1 point for accuracies near 90%: 4 of them
    assert abs(measured - entry["real_test_accuracy"]) < 0.04, (measured, entry["real_test_accuracy"])
    # The card names the weight decay it was trained with (records older than the recipe's
    # "weight_decay_kind" were trained with Keras' decoupled decay).
    record = json.loads(pathlib.Path(classifiers.fetch(name)[1]).read_text())
    card = (REPO_ROOT / "hub_mirror" / entry["hub"]["repo_id"] / classifiers.CARD_FILE).read_text()
    kind = record["recipe"].get("weight_decay_kind", "decoupled")
    assert f"weight decay {record['recipe']['weight_decay']:.4g} ({kind}" in card  # 4 significant digits

