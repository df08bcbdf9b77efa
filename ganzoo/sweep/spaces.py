"""The GAN Landscape's search spaces, by name, and the recipes they sample.

A space is a range ("wide" or "narrow") over the optimiser and penalty hyper-parameters, crossed
with the cells of the study: every valid (architecture, loss, penalty, normalisation) chosen.

wide (Kurach et al., Table 3; compare_gan v2 params.py GetDefaultWideRange and the penalty
ranges): learning rate log-uniform in [1e-5, 1e-2]; beta1 and beta2 uniform in [0, 1] (drawn
below 0.999: Adam needs them below 1); disc_iters in {1, 5}; lambda log-uniform in [0.1, 100]
(wgan_gp, dragan, r1) or [1e-4, 10] (l2).

narrow (Table 2, the product that recovers the literature's settings): learning rate in
{1e-4, 2e-4, 1e-3}; (beta1, beta2, disc_iters) in {(0.5, 0.9, 5), (0.5, 0.999, 1), (0.5, 0.999, 5),
(0.9, 0.999, 5)}, one parameter: Adam's betas are tied to disc_iters, not crossed with it;
lambda in {1, 10}. 3 x 4 (x 2 with a penalty) = 12 or 24 settings per cell.

Both learning rates are one parameter (d_lr = g_lr), as in the paper. The cell is one
categorical parameter ("cell", e.g. "sndcgan/ns/wgan_gp/spectral"), listing only the cells whose
networks can be built at the study's resolution.
"""
import dataclasses
import itertools
import math

from ganzoo.recipe import Recipe, RecipeError

RANGES = ("wide", "narrow")
NARROW_LEARNING_RATES = (1e-4, 2e-4, 1e-3)
# Categorical choices must be plain values: "beta1,beta2,disc_iters". compare_gan ties the three:
# its grid (branch v2_multigan, compare_gan/src/multi_gan/run_one_task.py, GetGANGridSearch's
# "__initial_trials") crosses lambda [1, 10] with the tuples (0.5, 0.9, 5), (0.5, 0.999, 5),
# (0.9, 0.999, 5); the paper's best models (v2 generate_tasks_lib.py) also use (0.5, 0.999, 1).
# Those four tuples and the learning rates are Table 2 as we read it; the code fixes none of the
# learning rates (its grid has 1e-4 only; its best models use 1e-4 and 2e-4).
NARROW_ADAM_DISC = ("0.5,0.9,5", "0.5,0.999,1", "0.5,0.999,5", "0.9,0.999,5")
NARROW_LAMBDAS = (1.0, 10.0)
DISC_ITERS = (1, 5)
WIDE_LR = (1e-5, 1e-2)
WIDE_BETA = (0.0, 0.999)
WIDE_LAMBDA = {"l2": (1e-4, 10.0)}
WIDE_LAMBDA_DEFAULT = (0.1, 100.0)


class SweepError(ValueError):
    """A sweep that cannot run as asked; the message names the problem and the fix."""


def _check_names(kind, names):
    """The names in canonical spelling (aliases accepted); an unknown one names the choices."""
    names = list(names)
    if not names:
        raise SweepError(f"no {kind} chosen: give at least one of "
                         f"{', '.join(Recipe.choices(kind))}.")
    canonical = []
    for name in names:
        fields = {"architecture": "sndcgan", kind: name}
        if kind == "penalty" and str(name).lower() != "none":
            fields["penalty_weight"] = 1.0
        try:
            value = getattr(Recipe(**fields), kind)
        except RecipeError as error:
            raise SweepError(str(error)) from None
        if value not in canonical:
            canonical.append(value)
    return tuple(canonical)


@dataclasses.dataclass(frozen=True)
class SearchSpace:
    """One search space: a range name and the cells, at one resolution and schedule."""

    range: str = "narrow"
    architectures: tuple = ("sndcgan",)
    losses: tuple = ("ns",)
    penalties: tuple = ("none",)
    normalizations: tuple = ("none",)
    resolution: int = 32
    steps: int = 1000
    batch_size: int = 64

    def __post_init__(self):
        if self.range not in RANGES:
            raise SweepError(f"unknown search space {self.range!r}; choose one of "
                             f"{', '.join(RANGES)} (ganzoo.sweep.spaces describes them).")
        for kind, attr in (("architecture", "architectures"), ("loss", "losses"),
                           ("penalty", "penalties"), ("normalization", "normalizations")):
            object.__setattr__(self, attr, _check_names(kind, getattr(self, attr)))
        for name in ("resolution", "steps", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise SweepError(f"{name} must be a positive whole number; got {value!r}.")
        bad = [d for d in DISC_ITERS if self.steps % d]
        if bad:
            raise SweepError(
                f"steps {self.steps}: the space draws disc_iters from {DISC_ITERS} and steps count "
                f"discriminator steps, so they must be a multiple of {math.lcm(*DISC_ITERS)}.")
        self.cells()  # refuses a space without one buildable cell

    def cells(self):
        """The valid cells as "architecture/loss/penalty/normalization" strings."""
        valid, refused = [], {}
        for arch, loss, penalty, norm in itertools.product(
                self.architectures, self.losses, self.penalties, self.normalizations):
            try:
                Recipe(arch, resolution=self.resolution, normalization=norm, loss=loss,
                       penalty=penalty, penalty_weight=None if penalty == "none" else 1.0)
            except RecipeError as error:
                refused.setdefault(str(error), []).append(f"{arch}/{loss}/{penalty}/{norm}")
                continue
            valid.append(f"{arch}/{loss}/{penalty}/{norm}")
        if not valid:
            reasons = "; ".join(f"{', '.join(cells[:3])}: {reason}"
                                for reason, cells in refused.items())
            raise SweepError(f"the search space excludes every valid recipe at resolution "
                             f"{self.resolution}: {reasons}")
        return tuple(valid)

    def describe(self):
        """A JSON-able description (stored with the study: workers must agree on it)."""
        return {"range": self.range, "cells": list(self.cells()), "resolution": self.resolution,
                "steps": self.steps, "batch_size": self.batch_size}

    def suggest(self, trial):
        """Draw one recipe through an Optuna trial (its params are the space's parameters)."""
        cell = trial.suggest_categorical("cell", self.cells())
        arch, loss, penalty, norm = cell.split("/")
        if self.range == "narrow":
            lr = trial.suggest_categorical("lr", NARROW_LEARNING_RATES)
            beta1, beta2, disc_iters = trial.suggest_categorical("adam_disc_iters", NARROW_ADAM_DISC).split(",")
            beta1, beta2, disc_iters = float(beta1), float(beta2), int(disc_iters)
        else:
            lr = trial.suggest_float("lr", *WIDE_LR, log=True)
            beta1 = trial.suggest_float("beta1", *WIDE_BETA)
            beta2 = trial.suggest_float("beta2", *WIDE_BETA)
            disc_iters = trial.suggest_categorical("disc_iters", DISC_ITERS)
        weight = None
        if penalty != "none":
            # One parameter per penalty: their ranges differ (l2's is 1e-4..10).
            if self.range == "narrow":
                weight = trial.suggest_categorical(f"lambda_{penalty}", NARROW_LAMBDAS)
            else:
                low, high = WIDE_LAMBDA.get(penalty, WIDE_LAMBDA_DEFAULT)
                weight = trial.suggest_float(f"lambda_{penalty}", low, high, log=True)
        return Recipe(arch, resolution=self.resolution, normalization=norm, loss=loss,
                      penalty=penalty, penalty_weight=weight, disc_iters=disc_iters, g_lr=lr,
                      beta1=beta1, beta2=beta2, batch_size=self.batch_size,
                      steps=self.steps).check_schedule()
