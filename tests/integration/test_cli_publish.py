"""`ganzoo publish` on the command line: its help, both option spellings, usage errors.

Publishing itself (run folder -> preset, manifest, upload) is tested through the command line in
tests/integration/test_zoo_publish_load.py (a zoo entry, --dry-run) and tests/integration/test_zoo_run_to_preset.py
(training/publish.py in a subprocess: your own model).
"""
import pytest

from ganzoo.cli import main as cli


def test_publish_help_lists_the_hyphenated_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["publish", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ganzoo publish")
    for option in ("--checkpoint RUN_DIR", "--config NAME", "--out-dir DIR", "--repo-id OWNER/NAME", "--dry-run",
                   "--exclude-metrics", "--discriminator-dtype"):
        assert option in out
    assert "--out_dir DIR" not in out and "--dry_run" not in out  # accepted, not listed twice
    assert "spelled with underscores" in out
    assert "publish a training run as a preset" in cli.build_parser().format_help()


def test_publish_takes_both_spellings():
    parser = cli.build_parser()
    hyphens = parser.parse_args(["publish", "--checkpoint", "runs/a", "--out-dir", "p", "--repo-id", "me/a",
                                 "--dry-run", "--num-samples", "4", "--sample-seed", "2", "--dataset-name", "cifar10",
                                 "--discriminator-dtype", "float32", "--exclude-metrics", "kid, kid_stderr",
                                 "--metrics", "ema=e.json", "--metrics", "raw=r.json"])
    underscores = parser.parse_args(["publish", "--checkpoint", "runs/a", "--out_dir", "p", "--repo_id", "me/a",
                                     "--dry_run", "--num_samples", "4", "--sample_seed", "2", "--dataset_name",
                                     "cifar10", "--discriminator_dtype", "float32", "--exclude_metrics",
                                     "kid,kid_stderr", "--metrics=ema=e.json", "--metrics=raw=r.json"])
    assert vars(hyphens) == vars(underscores)
    assert underscores.exclude_metrics == ["kid", "kid_stderr"] and underscores.metrics == ["ema=e.json", "raw=r.json"]
    assert underscores.dry_run and underscores.num_samples == 4 and underscores.private is False


def test_publish_usage_errors(capsys, tmp_path):
    # Neither a run to publish nor measurements to add: one line naming both, exit status 1.
    assert cli.main(["publish", "--out-dir", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert "--checkpoint RUN_DIR" in err and "--add-metrics" in err and "Traceback" not in err
    # Errors of the publication itself are one line and exit status 1, before anything is written.
    assert cli.main(["publish", "--checkpoint", str(tmp_path / "no-run")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ganzoo publish: error: ") and "needs --out_dir" in err and "Traceback" not in err
    assert cli.main(["publish", "--checkpoint", str(tmp_path / "no-run"), "--out-dir", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ganzoo publish: error: ") and "no-run" in err
    assert not (tmp_path / "p").exists()
