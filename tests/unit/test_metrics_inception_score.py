"""Inception Score of a synthetic classifier equals the closed form."""
import numpy as np
import pytest

from ganzoo.metrics import inception_score as isc


def brightness_classifier(num_classes, confidence):
    """Class = image brightness bucket; probability `confidence` on it, the rest spread evenly."""
    def classify(images):
        label = np.minimum((images.mean(axis=(1, 2, 3)) / 256 * num_classes).astype(int), num_classes - 1)
        probs = np.full((len(images), num_classes), (1 - confidence) / (num_classes - 1))
        probs[np.arange(len(images)), label] = confidence
        return np.log(probs)  # logits
    return classify


def test_inception_score_of_synthetic_classifier_matches_closed_form():
    k, c = 5, 0.9
    levels = (np.arange(k) + 0.5) * 256 / k
    images = np.repeat(levels, 20)[:, None, None, None] * np.ones((1, 4, 4, 3))  # 20 per class
    images = images[np.random.default_rng(0).permutation(len(images))]
    mean, std = isc.inception_score(images, brightness_classifier(k, c), splits=1)
    # p(y) is uniform, so IS = exp(log k - H(p(y|x))).
    entropy = -(c * np.log(c) + (1 - c) * np.log((1 - c) / (k - 1)))
    assert mean == pytest.approx(k * np.exp(-entropy), rel=1e-9) and std == 0.0


def test_inception_score_bounds_and_splits():
    one_hot = np.eye(10)[np.arange(1000) % 10]
    assert isc.inception_score_from_probs(one_hot, splits=10)[0] == pytest.approx(10.0)
    same = np.tile(np.random.default_rng(0).dirichlet(np.ones(10)), (100, 1))
    assert isc.inception_score_from_probs(same, splits=5) == pytest.approx((1.0, 0.0))


def test_standard_logits_are_not_available_offline():
    with pytest.raises(ValueError, match="1008-class logits"):
        isc.inception_score(np.zeros((10, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="cannot be split"):
        isc.inception_score_from_probs(np.eye(3), splits=10)
