"""Input pipelines: tar, folder, tfds, synthetic sources; batching, labels, resume order, errors."""
import io
import os
import tarfile

import numpy as np
import pytest
from PIL import Image

from ganzoo import data


def _encode(array, fmt="PNG"):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt)
    return buffer.getvalue()


def _images(count, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count, size, size, 3), dtype=np.uint8)


def _write_tar(path, members):
    """members: {name: bytes}."""
    with tarfile.open(path, "w") as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return str(path)


def _class_tar(path, per_class=3, classes=("cat", "dog"), size=8, split="train"):
    arrays = _images(per_class * len(classes), size)
    members = {}
    for c, name in enumerate(classes):
        for i in range(per_class):
            members[f"{split}/{name}/{i:04d}.png"] = _encode(arrays[c * per_class + i])
    return _write_tar(path, members), arrays


def _first_batches(dataset, count):
    iterator = iter(dataset)
    return [next(iterator) for _ in range(count)]


def test_synthetic_batches_shape_range_labels():
    source = data.synthetic(20, resolution=16, num_classes=4)
    dataset = data.make_dataset(source, batch_size=3, disc_iters=2, resolution=16)
    for images, labels in _first_batches(dataset, 5):  # 20 // 6 = 3 batches per epoch: wraps
        assert images.shape == (6, 16, 16, 3) and images.dtype.name == "float32"
        assert 0.0 <= float(np.min(images)) and float(np.max(images)) <= 1.0
        assert labels.shape == (6,) and labels.dtype.name == "int32"
        assert set(np.asarray(labels)) <= {0, 1, 2, 3}


def test_epoch_visits_every_example_once_and_drops_remainder():
    source = data.synthetic(10, resolution=8, num_classes=10)  # label == index here
    dataset = data.make_dataset(source, batch_size=3, resolution=8)
    epoch = np.concatenate([np.asarray(labels) for _, labels in _first_batches(dataset, 3)])
    assert len(set(epoch.tolist())) == 9  # 3 full batches of 3; one example dropped this epoch


def test_resume_continues_the_same_order():
    source = data.synthetic(50, resolution=8, num_classes=50)
    full = _first_batches(data.make_dataset(source, 4, seed=7, resolution=8), 20)
    resumed = _first_batches(data.make_dataset(source, 4, seed=7, resolution=8, start_step=13), 7)
    for (a_images, a_labels), (b_images, b_labels) in zip(full[13:], resumed):
        np.testing.assert_array_equal(a_labels, b_labels)
        np.testing.assert_array_equal(a_images, b_images)
    other_seed = _first_batches(data.make_dataset(source, 4, seed=8, resolution=8), 1)
    assert not np.array_equal(other_seed[0][1], full[0][1])


def test_tar_labels_split_and_encoded_path_agree(tmp_path):
    path, arrays = _class_tar(tmp_path / "train.tar")
    source = data.from_tar(path, split="train")
    assert source.class_names == ["cat", "dog"] and source.images is not None
    np.testing.assert_array_equal(source.labels, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(source.images, arrays)  # PNG round trip is lossless
    streamed = data.from_tar(path, split="train", memory_limit=0)
    assert streamed.images is None and len(streamed) == 6
    a = _first_batches(data.make_dataset(source, 2, seed=1, resolution=8), 4)
    b = _first_batches(data.make_dataset(streamed, 2, seed=1, resolution=8), 4)
    for (ai, al), (bi, bl) in zip(a, b):
        np.testing.assert_array_equal(ai, bi)
        np.testing.assert_array_equal(al, bl)
    assert not os.path.exists(tmp_path / "train")  # nothing extracted


def test_several_tars_concatenate(tmp_path):
    first, _ = _class_tar(tmp_path / "part1.tar", per_class=2)
    second, _ = _class_tar(tmp_path / "part2.tar", per_class=3)
    source = data.from_tar([first, second])
    assert len(source) == 10 and source.class_names == ["cat", "dog"]


def test_folder_layouts(tmp_path):
    arrays = _images(4)
    for i, array in enumerate(arrays):
        label_dir = tmp_path / "labelled" / ("a" if i < 2 else "b")
        label_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(label_dir / f"{i}.png")
        (tmp_path / "flat").mkdir(exist_ok=True)
        Image.fromarray(array).save(tmp_path / "flat" / f"{i}.jpg", quality=95)
        split_dir = tmp_path / "tfds_layout" / "train" / ("a" if i % 2 else "b")
        split_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(split_dir / f"{i}.png")
    (tmp_path / "flat" / "notes.txt").write_text("not an image")
    labelled = data.load_source(str(tmp_path / "labelled"))
    assert labelled.class_names == ["a", "b"] and list(labelled.labels) == [0, 0, 1, 1]
    flat = data.load_source(str(tmp_path / "flat"))
    assert flat.labels is None and len(flat) == 4
    images = _first_batches(data.make_dataset(flat, 2, resolution=8), 1)[0]
    assert images.shape == (2, 8, 8, 3)  # no labels: images only
    split = data.load_source(str(tmp_path / "tfds_layout"), split="train")
    assert split.class_names == ["a", "b"] and len(split) == 4
    streamed = data.from_folder(str(tmp_path / "labelled"), memory_limit=0)
    assert streamed.records[0].endswith("0.png")
    assert _first_batches(data.make_dataset(streamed, 2, resolution=8), 1)[0][0].shape == (2, 8, 8, 3)


def test_tfds_name_through_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=6):
        source = data.load_source("mnist")
    assert len(source) == 6 and source.image_shape == (28, 28, 3)  # grey -> RGB
    assert source.labels is not None and source.num_classes == 10


def test_resize_allows_mixed_sizes(tmp_path):
    (tmp_path / "x").mkdir()
    Image.fromarray(_images(1, 8)[0]).save(tmp_path / "x" / "a.png")
    Image.fromarray(_images(1, 16)[0][:12]).save(tmp_path / "x" / "b.png")  # 16 wide, 12 high
    Image.fromarray(_images(1, 16)[0]).save(tmp_path / "x" / "c.png")
    dataset, source = data.load(str(tmp_path / "x"), batch_size=3, resolution=4, resize=True)
    assert source.image_shape is None
    assert _first_batches(dataset, 1)[0].shape == (3, 4, 4, 3)



def test_take_images_fits_images_to_a_resolution_as_training_does(tmp_path):
    """A FID reference holds what the model trains on: the pipeline's images, and for
    crop_or_pad the central patch of each image as NumPy slices it."""
    (tmp_path / "x").mkdir()
    arrays = [_images(1, 8, seed=1)[0], _images(1, 16, seed=2)[0][:12], _images(1, 16, seed=3)[0]]
    for name, array in zip("abc", arrays):
        Image.fromarray(array).save(tmp_path / "x" / f"{name}.png")
    source = data.load_source(str(tmp_path / "x"), allow_mixed_sizes=True)
    with pytest.raises(data.DataError, match="mixes image sizes: give take_images a resolution"):
        data.take_images(source, 3)
    fitted = data.take_images(source, 3, resolution=4)  # all 3, in the source's order
    trained = _first_batches(data.make_dataset(source, 3, resolution=4, resize=True,
                                               shuffle=False), 1)[0]
    assert fitted.shape == (3, 4, 4, 3)
    np.testing.assert_allclose(fitted, trained, atol=1e-6)
    patches = data.take_images(source, 3, resolution=8, crop_or_pad=True)
    np.testing.assert_array_equal(patches[0], arrays[0] / np.float32(255))
    np.testing.assert_array_equal(patches[2], arrays[2][4:12, 4:12] / np.float32(255))
    # 12 high, 16 wide: rows 2..10 of the 12, columns 4..12 of the 16.
    np.testing.assert_array_equal(patches[1], arrays[1][2:10, 4:12] / np.float32(255))
    # Images already of the resolution are returned as they are.
    (tmp_path / "y").mkdir()
    Image.fromarray(arrays[0]).save(tmp_path / "y" / "a.png")
    np.testing.assert_array_equal(data.take_images(data.load_source(str(tmp_path / "y")), 1,
                                                   resolution=8)[0], arrays[0] / np.float32(255))


# ---- errors before training ------------------------------------------------------------------


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(data.DataError, match="does not exist"):
        data.load_source(str(tmp_path / "nope.tar"))
    with pytest.raises(data.DataError, match="does not exist"):
        data.from_folder(str(tmp_path / "nope"))
    with pytest.raises(data.DataError, match="--data_dir"):
        data.load_source("cifar10", data_dir=str(tmp_path))


def test_corrupt_and_truncated_tar(tmp_path):
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(data.DataError, match="truncated or corrupt"):
        data.load_source(str(garbage))
    path, _ = _class_tar(tmp_path / "good.tar", per_class=20, size=16)
    payload = open(path, "rb").read()
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(payload[: len(payload) // 2 + 100])
    with pytest.raises(data.DataError, match="truncated or corrupt"):
        data.load_source(str(truncated))


def test_corrupt_image_names_the_member(tmp_path):
    path = _write_tar(tmp_path / "bad.tar", {
        "train/a/0.png": _encode(_images(1)[0]),
        "train/a/1.jpg": b"\xff\xd8\xff\xe0 this is not really a jpeg",
    })
    with pytest.raises(data.DataError, match=r"train/a/1\.jpg.*corrupt"):
        data.load_source(path)


def test_empty_folder(tmp_path):
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    with pytest.raises(data.DataError, match="holds no images"):
        data.load_source(str(tmp_path / "empty"))


def test_mixed_sizes(tmp_path):
    (tmp_path / "m").mkdir()
    Image.fromarray(_images(1, 8)[0]).save(tmp_path / "m" / "a.png")
    Image.fromarray(_images(1, 10)[0]).save(tmp_path / "m" / "b.png")
    with pytest.raises(data.DataError, match="different sizes.*--resize"):
        data.load_source(str(tmp_path / "m"))


def test_batch_larger_than_data_and_resolution_mismatch():
    source = data.synthetic(10, resolution=8)
    with pytest.raises(data.DataError, match="needs 12 images.*holds only 10.*--batch_size"):
        data.make_dataset(source, batch_size=6, disc_iters=2, resolution=8)
    with pytest.raises(data.DataError, match="8x8.*32x32.*--resize"):
        data.make_dataset(source, batch_size=2, resolution=32)


def test_unknown_name_and_conflicting_data_dir(tmp_path):
    with pytest.raises(data.DataError, match="Unknown data set 'cifar_ten'"):
        data.load_source("cifar_ten")
    path, _ = _class_tar(tmp_path / "t.tar")
    with pytest.raises(data.DataError, match="conflicts"):
        data.load_source(path, data_dir=str(tmp_path))
    with pytest.raises(data.DataError, match="synthetic:N"):
        data.load_source("synthetic:zero")


@pytest.mark.slow
def test_real_cifar10_test_split():
    try:
        files = data.cifar10_files(split="test")
    except data.DataError as error:
        pytest.skip(str(error))
    source = data.from_tar(files, split="test", name="cifar10-test")
    assert len(source) == 10000 and source.image_shape == (32, 32, 3)
    assert source.class_names == list(data.CIFAR10_CLASSES)
    assert np.bincount(source.labels).tolist() == [1000] * 10
    images, labels = _first_batches(data.make_dataset(source, 64, resolution=32), 1)[0]
    assert images.shape == (64, 32, 32, 3) and 0.2 < float(np.mean(images)) < 0.7


# ---- LSUN: central crop-or-pad at native resolution (compare_gan v2.0 datasets.py) -------------

# (height, width): odd and even, smaller and larger than the target, equal, and mixed per axis.
_CROP_OR_PAD_SIZES = [(8, 8), (11, 11), (12, 12), (5, 5), (4, 4), (3, 6), (13, 6), (9, 20),
                      (6, 15), (1, 1), (30, 8)]


@pytest.mark.parametrize("target", [8, 7])
@pytest.mark.parametrize("height,width", _CROP_OR_PAD_SIZES)
def test_central_crop_or_pad_matches_tensorflow(height, width, target):
    # The independent computation: TensorFlow's own op, which compare_gan applies to LSUN
    # (tf.image.resize_image_with_crop_or_pad in TF1, resize_with_crop_or_pad in TF2).
    tf = pytest.importorskip("tensorflow")
    from ganzoo.data.pipeline import central_crop_or_pad

    rng = np.random.default_rng(height * 100 + width)
    images = rng.integers(1, 256, size=(2, height, width, 3), dtype=np.uint8)  # no zeros: pads show
    expected = tf.image.resize_with_crop_or_pad(tf.constant(images), target, target).numpy()
    ours = central_crop_or_pad(tf.constant(images), target).numpy()
    assert ours.shape == (2, target, target, 3) and ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, expected)
    # The same on float images (as the pipeline calls it, after scaling to [0, 1]).
    as_float = central_crop_or_pad(tf.constant(images, tf.float32) / 255.0, target).numpy()
    np.testing.assert_array_equal(as_float, expected.astype(np.float32) / 255.0)


def test_crop_or_pad_pipeline_keeps_native_pixels(tmp_path):
    """make_dataset(crop_or_pad=True): each image's central patch, never resampled."""
    tf = pytest.importorskip("tensorflow")
    folder = tmp_path / "lsun"
    folder.mkdir()
    rng = np.random.default_rng(3)
    arrays = [rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
              for h, w in [(10, 13), (6, 9), (8, 8), (16, 5)]]
    for i, array in enumerate(arrays):
        Image.fromarray(array).save(folder / f"{i}.png")
    source = data.load_source(str(folder), allow_mixed_sizes=True)
    assert source.image_shape is None and not source.crop_or_pad
    dataset = data.make_dataset(source, batch_size=4, resolution=8, shuffle=False,
                                crop_or_pad=True)
    batch = _first_batches(dataset, 1)[0]
    expected = np.stack([tf.image.resize_with_crop_or_pad(a, 8, 8).numpy() for a in arrays])
    np.testing.assert_array_equal(batch, expected.astype(np.float32) / 255.0)
    # Without crop_or_pad the same images are resized (ganzoo's --resize), which differs.
    resized = _first_batches(data.make_dataset(source, batch_size=4, resolution=8, shuffle=False,
                                               resize=True), 1)[0]
    assert resized.shape == batch.shape and not np.array_equal(resized, batch)


def test_tfds_lsun_is_cropped_not_resized():
    tfds = pytest.importorskip("tensorflow_datasets")
    tf = pytest.importorskip("tensorflow")
    with tfds.testing.mock_data(num_examples=6):  # random images of random, mixed sizes
        source = data.load_source("tfds:lsun/bedroom")
    assert source.crop_or_pad and len(source) == 6
    originals = list(source.images) if source.records is None else source.records
    # No --resize needed: the pipeline takes each image's central patch at the model's resolution.
    dataset = data.make_dataset(source, batch_size=6, resolution=16, shuffle=False, labels=False)
    batch = _first_batches(dataset, 1)[0]
    expected = np.stack([tf.image.resize_with_crop_or_pad(a, 16, 16).numpy() for a in originals])
    np.testing.assert_array_equal(batch, expected.astype(np.float32) / 255.0)


# ---- memory: sizes from image headers, before decoding --------------------------------------


def _big_png_tar(path, count, side):
    """A small tar of large, highly compressible PNGs (a few kB each, side*side*3 decoded)."""
    members = {}
    for i in range(count):
        array = np.zeros((side, side, 3), np.uint8)
        array[i::7, :, i % 3] = 200
        members[f"train/x/{i}.png"] = _encode(array)
    return _write_tar(path, members)


def test_memory_limit_is_judged_from_headers_before_decoding(tmp_path):
    """6 PNGs of 1000x1000 (3 MB each decoded, 18 MB in all) under memory_limit=8 MB: the
    images stay encoded, and checking them never holds more than the limit's worth at once
    (the old reader decoded all 18 MB first, then compared with the limit)."""
    import tracemalloc

    path = _big_png_tar(tmp_path / "big.tar", 6, 1000)
    assert os.path.getsize(path) < 200_000
    one = 1000 * 1000 * 3
    tracemalloc.start()
    try:
        source = data.from_tar(path, memory_limit=8 * 2**20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert source.images is None and len(source) == 6 and source.image_shape == (1000, 1000, 3)
    assert peak < 5 * one, f"peak {peak / 2**20:.1f} MB while reading 6 x {one / 2**20:.1f} MB"


def test_images_that_fit_are_decoded_into_one_array(tmp_path):
    path = _big_png_tar(tmp_path / "fits.tar", 3, 64)
    source = data.from_tar(path, memory_limit=3 * 64 * 64 * 3)  # exactly enough
    assert source.images is not None and source.images.shape == (3, 64, 64, 3)
    streamed = data.from_tar(path, memory_limit=3 * 64 * 64 * 3 - 1)
    assert streamed.images is None


def test_corrupt_image_is_found_in_streaming_mode_too(tmp_path):
    good = _encode(_images(1)[0])
    path = _write_tar(tmp_path / "bad.tar", {"a/0.png": good, "a/1.png": good[:40]})
    with pytest.raises(data.DataError, match=r"a/1\.png.*corrupt"):
        data.from_tar(path, memory_limit=0)


# ---- one image reader for training and evaluation --------------------------------------------


def test_training_and_evaluation_see_the_same_files(tmp_path):
    from ganzoo.data import image_files

    root = tmp_path / "imgs"
    (root / "cls").mkdir(parents=True)
    (root / ".ipynb_checkpoints").mkdir()
    arrays = _images(3)
    Image.fromarray(arrays[0]).save(root / "cls" / "a.png")
    Image.fromarray(arrays[1]).save(root / "cls" / "b.ppm")  # once only evaluation read .ppm
    Image.fromarray(arrays[2]).save(root / "cls" / "c.jpeg")
    Image.fromarray(arrays[0]).save(root / "cls" / "._a.png")  # macOS metadata twin
    Image.fromarray(arrays[0]).save(root / ".ipynb_checkpoints" / "a.png")
    (root / "cls" / "notes.txt").write_text("not an image")
    evaluation = image_files.list_images(root)
    training = data.from_folder(str(root)).descriptions
    assert evaluation == training == ["cls/a.png", "cls/b.ppm", "cls/c.jpeg"]
    np.testing.assert_array_equal(image_files.read_images(root)[1], arrays[1])


def test_truncated_tar_is_a_data_error_for_evaluation_too(tmp_path):
    from ganzoo.data import image_files

    path, _ = _class_tar(tmp_path / "good.tar", per_class=20, size=16)
    payload = open(path, "rb").read()
    truncated = tmp_path / "truncated.tar"
    truncated.write_bytes(payload[: len(payload) // 2 + 100])
    with pytest.raises(data.DataError, match="truncated or corrupt"):
        image_files.read_images(truncated)


# ---- pipeline arguments ------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,message", [
    ({"batch_size": 0}, r"batch_size \(--batch_size\) must be a positive integer; got 0"),
    ({"batch_size": 2, "disc_iters": 0}, r"disc_iters \(--disc_iters\) must be a positive"),
    ({"batch_size": 2.5}, "batch_size .* got 2.5"),
    ({"batch_size": 2, "seed": -1}, r"seed \(--seed\) must be an integer >= 0"),
    ({"batch_size": 2, "resolution": 0}, "resolution .* positive"),
])
def test_make_dataset_refuses_bad_arguments(kwargs, message):
    source = data.synthetic(8, resolution=8)
    with pytest.raises(data.DataError, match=message):
        data.make_dataset(source, **kwargs)


def test_make_dataset_refuses_images_that_are_not_uint8():
    source = data.synthetic(8, resolution=8)
    source.images = source.images.astype(np.float32) / 127.5 - 1.0  # [-1, 1] floats
    with pytest.raises(data.DataError, match=r"dtype float32.*needs uint8.*\[-1, 1\]"):
        data.make_dataset(source, batch_size=2, resolution=8)
