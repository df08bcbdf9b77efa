"""The model card's "Does it copy its training images?" section (ganzoo/zoo/card.py), from the
nearest_neighbours metrics of an evaluation record as publishing normalises them."""
from ganzoo.metrics.nearest_neighbours import protocol
from ganzoo.zoo.card import _copies
from ganzoo.zoo.publishing import normalize_metrics


def _record(values):
    return {"metrics": {name: {"mean": value, "values": [value]} for name, value in values.items()},
            "protocol": {"nearest_neighbours": protocol(0.01, 50000), "n_generated": 5000}}


def test_the_section_reads_the_published_nearest_neighbour_numbers():
    metrics = normalize_metrics(_record({"fid": 23.8, "nn_ratio_median": 0.92, "nn_ratio_p1": 1.088,
                                         "nn_copy_share": 0.0044, "nn_duplicate_share": 0.02,
                                         "nn_gen_train_median": 8.7}))
    text = "\n".join(_copies(metrics))
    assert text.startswith("## Does it copy its training images?")
    for needle in ("0.92 times as far", "(1.09 at the 1st percentile", "0.44% of the samples",
                   "2.00% have a near twin", "50000 training samples", "1% by default"):
        assert needle in text, needle


def test_no_section_without_all_four_numbers():
    assert _copies(normalize_metrics(_record({"fid": 23.8}))) == []
    assert _copies(normalize_metrics(_record({"nn_ratio_median": 0.9, "nn_copy_share": 0.01}))) == []
