"""Fine-tuning: training/train.py --init_from NAME starts from the zoo model's generator and
discriminator (ganzoo.load(NAME, with_discriminator=True)) and trains on another data set with
fresh optimizers. The zoo download itself is tested in test_zoo_publish_load.py; here
ganzoo.load is replaced by a stand-in "published" model with known weights."""
import numpy as np
import pytest
from ganzoo import training  # the run itself
from ganzoo.cli import train  # `ganzoo train`

NAME = "sndcgan-ns-sn-cifar10"


@pytest.mark.slow
def test_init_from_zoo_model_then_fit_on_other_data(tmp_path, monkeypatch):
    import ganzoo
    from ganzoo.checkpoint import CheckpointManager
    from ganzoo.zoo import manifest

    recipe = manifest.training_config(NAME)
    pretrained = ganzoo.build_gan(**recipe, seed=123)  # stands in for the published weights
    calls = []

    def fake_load(name, with_discriminator=False, **kwargs):
        calls.append((name, with_discriminator))
        return pretrained

    monkeypatch.setattr(ganzoo, "load", fake_load)
    model_dir = tmp_path / "finetuned"
    train.parse_flags(["train.py", "--init_from", NAME, "--model_dir", str(model_dir),
                       "--dataset", "synthetic:8", "--batch_size", "2", "--steps", "2",
                       "--lr", "1e-4", "--checkpoint_every", "2", "--num_samples", "4",
                       "--noprogress"])
    settings = train.resolve_settings()
    assert settings.recipe.normalization == "spectral" and settings.recipe.g_lr == 1e-4
    summary = training.run(settings)

    assert calls == [(NAME, True)]
    assert summary["d_step"] == 2  # fresh optimizers: the run's own steps only
    tuned = ganzoo.build_gan(**recipe, seed=0)
    metadata = CheckpointManager(model_dir / "checkpoints").restore(tuned)
    assert metadata["init_from"] == NAME and metadata["dataset"] == "synthetic:8"
    assert tuned.d_steps == 2
    fresh = ganzoo.build_gan(**recipe, seed=0).generator.get_weights()
    for after, before, other in zip(tuned.generator.get_weights(),
                                    pretrained.generator.get_weights(), fresh):
        if after.ndim < 2:
            continue
        moved = np.mean(np.abs(after - before))
        assert moved < 1e-3, moved  # two Adam steps of lr 1e-4 from the zoo weights
        assert np.mean(np.abs(other - before)) > 10 * moved + 1e-3  # not a fresh start


def test_init_from_refuses_other_networks(tmp_path):
    train.parse_flags(["train.py", "--init_from", NAME, "--model_dir", str(tmp_path),
                       "--resolution", "64"])
    with pytest.raises(train.UsageError, match="--resolution 64 conflicts with --init_from"):
        train.resolve_settings()
