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
    """The grids' compiled path (JAX) gives generator.sample's images, EMA and raw."""
    import numpy as np

    import ganzoo
    from ganzoo.callbacks import SampleGrid

    gan = ganzoo.build_gan("sndcgan", resolution=8, ema_decay=0.9, seed=0)
    grid = SampleGrid(tmp_path / "samples", every=2, num=6, seed=3)
    grid.set_model(gan)
    for generator in (gan.ema_generator, gan.generator):
        np.testing.assert_allclose(grid._draw(generator), generator.sample(6, seed=3),
                                   rtol=1e-5, atol=1e-6)
    grid._write(2)
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "step_000000002.png", "step_000000002_raw.png"]
