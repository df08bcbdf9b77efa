"""ganzoo.sweep.spaces: the paper's wide and narrow spaces, their cells, and clear refusals."""
import math

import optuna
import pytest

from ganzoo.recipe import Recipe
from ganzoo.sweep.spaces import (DISC_ITERS, NARROW_ADAM_DISC, NARROW_LAMBDAS, NARROW_LEARNING_RATES,
                                 SearchSpace, SweepError, WIDE_LR)

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_cells_are_the_buildable_products():
    space = SearchSpace("narrow", ("sndcgan", "resnet_cifar"), ("ns", "wgan"), ("none", "gp"),
                        ("none", "batch"), resolution=32)
    cells = space.cells()
    # SNDCGAN's discriminator takes no batch norm: those cells are left out, the others kept.
    assert "sndcgan/ns/none/batch" not in cells
    assert "resnet_cifar/ns/wgan_gp/batch" in cells  # "gp" is the alias of wgan_gp
    assert len(cells) == 2 * 2 * 2 + 2 * 2 * 1


@pytest.mark.parametrize("kwargs, words", [
    ({"range": "medium"}, ["'medium'", "wide", "narrow"]),
    ({"losses": ("nope",)}, ["nope", "ns", "hinge"]),
    ({"losses": ()}, ["no loss", "ns"]),
    ({"resolution": 12}, ["excludes every valid recipe", "resolution 12", "divisible by 8"]),
    ({"normalizations": ("batch",)}, ["excludes every valid recipe", "resnet_cifar"]),
    ({"architectures": ("resnet_cifar",), "resolution": 64}, ["excludes every valid", "32"]),
    ({"steps": 12}, ["multiple of 5"]),
    ({"batch_size": 0}, ["batch_size"]),
])
def test_bad_spaces_are_refused_with_the_fix(kwargs, words):
    with pytest.raises(SweepError) as error:
        SearchSpace(**kwargs)
    for word in words:
        assert word in str(error.value)


def test_narrow_draws_the_papers_discrete_values():
    space = SearchSpace("narrow", losses=("wgan",), penalties=("wgan_gp",),
                        normalizations=("spectral",), steps=100, batch_size=16)
    trial = optuna.trial.FixedTrial({"cell": "sndcgan/wgan/wgan_gp/spectral", "lr": 1e-3,
                                     "adam_disc_iters": "0.9,0.999,5",
                                     "lambda_wgan_gp": 10.0})
    recipe = space.suggest(trial)
    assert recipe == Recipe("sndcgan", resolution=32, normalization="spectral", loss="wgan",
                            penalty="wgan_gp", penalty_weight=10.0, disc_iters=5, g_lr=1e-3,
                            beta1=0.9, beta2=0.999, batch_size=16, steps=100)
    assert recipe.d_lr == recipe.g_lr


def test_wide_draws_stay_in_the_papers_ranges():
    space = SearchSpace("wide", losses=("ns", "ls"), penalties=("none", "l2", "dragan"),
                        normalizations=("none", "spectral"))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(60):
        trial = study.ask()
        recipe = space.suggest(trial)
        study.tell(trial, 0.0)
        seen.add((recipe.loss, recipe.penalty, recipe.normalization))
        assert WIDE_LR[0] <= recipe.g_lr <= WIDE_LR[1]
        assert 0 <= recipe.beta1 < 1 and 0 <= recipe.beta2 < 1
        assert recipe.disc_iters in DISC_ITERS
        if recipe.penalty == "l2":
            assert 1e-4 <= recipe.penalty_weight <= 10
        elif recipe.penalty == "dragan":
            assert 0.1 <= recipe.penalty_weight <= 100
        else:
            assert recipe.penalty_weight == 0
    assert len(seen) == len(space.cells())  # every cell drawn in 60 tries of 12


def test_narrow_values_are_the_papers():
    assert NARROW_LEARNING_RATES == (1e-4, 2e-4, 1e-3)
    assert NARROW_LAMBDAS == (1.0, 10.0)
    # (beta1, beta2, disc_iters) tied, as compare_gan's grid ties them; not (0, 0.9), not crossed.
    assert NARROW_ADAM_DISC == ("0.5,0.9,5", "0.5,0.999,1", "0.5,0.999,5", "0.9,0.999,5")
    assert math.isclose(WIDE_LR[0], 1e-5) and math.isclose(WIDE_LR[1], 1e-2)
