"""The end of a run does not stall: fit() returns without waiting for tf.data's autotuning
thread (its wake-up period grows to tens of seconds in a long run, and destroying fit()'s
iterator waited for it: 0 to 39 s measured after the last step)."""
from ganzoo import data


def test_make_dataset_runs_without_the_autotune_thread():
    source = data.load_source("synthetic:16", synthetic_resolution=8)
    for prefetch in (True, False):
        dataset = data.make_dataset(source, batch_size=4, resolution=8, prefetch=prefetch)
        assert dataset.options().autotune.enabled is False
        images, labels = next(iter(dataset))
        assert tuple(images.shape) == (4, 8, 8, 3) and tuple(labels.shape) == (4,)


def test_sample_grids_draw_the_same_images_as_sample(tmp_path):
    """The grids hold generator.sample's images (one compiled forward pass on JAX): the EMA
    generator's in step_N.png, the raw one's in step_N_raw.png."""
    import numpy as np
    from PIL import Image

    import ganzoo
    from ganzoo.callbacks import SampleGrid
    from ganzoo.utils.images import save_grid

    gan = ganzoo.build_gan("sndcgan", resolution=8, ema_decay=0.9, seed=0)
    gan.ema_generator.set_weights([w + 0.05 for w in gan.ema_generator.get_weights()])  # two different G
    grid = SampleGrid(tmp_path / "samples", every=2, num=6, seed=3)
    grid.set_model(gan)
    grid._write(2)
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "step_000000002.png", "step_000000002_raw.png"]
    for generator, name in ((gan.ema_generator, "step_000000002.png"), (gan.generator, "step_000000002_raw.png")):
        expected = save_grid(generator.sample(6, seed=3), tmp_path / f"expected_{name}")
        written = np.asarray(Image.open(tmp_path / "samples" / name), dtype="int16")
        assert np.abs(written - np.asarray(Image.open(expected), dtype="int16")).max() <= 1, name
    ema, raw = (np.asarray(Image.open(tmp_path / "samples" / n), dtype="int16") for n in
                ("step_000000002.png", "step_000000002_raw.png"))
    assert np.abs(ema - raw).max() > 10  # the two generators' grids are told apart
