"""The 128x128 recipes read tensorflow-datasets data sets (celeb_a_hq/128, lsun/bedroom). When
one is not prepared, the error names the data set, what it needs and how to point at a local
copy, before tfds's own reason (which was a missing importlib_resources module on this machine)."""
import pytest

from ganzoo.data import DataError, load_source


def test_an_unprepared_tfds_data_set_names_the_data_and_the_fixes(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    # celeb_a_hq is never downloaded by tfds (it builds from manually obtained images), so this
    # fails quickly online and offline alike.
    with pytest.raises(DataError) as info:
        load_source("tfds:celeb_a_hq/128", data_dir=str(tmp_path))
    message = str(info.value)
    assert message.startswith("The 'celeb_a_hq/128' images (split 'train') are not prepared in " + str(tmp_path))
    for needle in ("CelebA-HQ (30,000 faces)", "manual_dir", "--data_dir pointing at the tensorflow_datasets folder",
                   "--dataset PATH", "(tfds said: "):
        assert needle in message, needle
    assert message.index("(tfds said: ") > message.index("--dataset PATH")  # tfds's reason comes last
