"""The paper recipes of weights_manifest.json, pinned to compare_gan v2.0's task definitions (no Keras).

Source: github.com/google/compare_gan, tag v2.0 (commit 766edb2e828e7a24e75cf02ccb67781de60eca5b),
compare_gan/src/generate_tasks_lib.py: BestModelSNDCGan() (the paper's SNDCGAN table),
BestModelResnet19() (ResNet19 table) and BestModelResnetCifar() (ResNet-CIFAR table). Each task
dict there is preceded by a comment "# Line N: FID score: X"; its shared values (architecture,
batch_size 64, z_dim 128, Adam, and gan_type unless the task sets it) come from the model.update
after the list. Resolutions come from params.py DATASET_PARAMS. How compare_gan v2.0 reads them:
one Adam learning rate for both networks (abstract_gan.py L49 self.learning_rate, used by both
get_optimizer calls, gans_with_penalty.py L290-293); training_steps counts discriminator updates
(abstract_gan.py L312, the generator is updated every disc_iters steps, L262); lambda only enters
the loss with a penalty (gans_with_penalty.py L270-277), so entries without one store 0; there is
no generator EMA (ema_decay None).

Every value below is (value, line): the line of generate_tasks_lib.py v2.0 that states it, or
("params.py", line), or None where the code's value is not used (lambda without a penalty). The
comment on each row quotes that line. test_citations_match_compare_gan_source re-reads the cited
lines when the compare_gan source is at hand ($COMPARE_GAN_GENERATE_TASKS_LIB: a path to
generate_tasks_lib.py v2.0, with params.py beside it; or a compare_gan git mirror) and skips
otherwise.
"""
import ast
import os
import pathlib
import re
import subprocess

import pytest

from ganzoo.zoo import manifest

# name -> (function of generate_tasks_lib.py, "Line N" of its best_models list, {key: (value, line)})
RECIPES = {
    # BestModelSNDCGan() "Line 1", generate_tasks_lib.py lines 156-168
    "sndcgan-ns-none-cifar10": ("BestModelSNDCGan", 1, {
        "architecture": ("sndcgan", 401),       # L401 "architecture": consts.SNDCGAN_ARCH
        "resolution": (32, ("params.py", 360)), # params.py L360 DATASET_PARAMS["cifar10"]["input_height"]
        "normalization": ("none", 165),         # L165 "discriminator_normalization": consts.NO_NORMALIZATION
        "loss": ("ns", 403),                    # L403 "gan_type": consts.GAN_WITH_PENALTY
        "penalty": ("none", 160),               # L160 "penalty_type": consts.NO_PENALTY
        "penalty_weight": (0.0, None),          # L167 "lambda": 10 is unused without a penalty
        "disc_iters": (1, 164),                 # L164 "disc_iters": 1
        "g_lr": (0.0001, 161),                  # L161 "learning_rate": 0.0001 (one rate for G and D)
        "d_lr": (0.0001, 161),                  # L161 "learning_rate": 0.0001
        "beta1": (0.5, 162),                    # L162 "beta1": 0.5
        "beta2": (0.999, 163),                  # L163 "beta2": 0.999
        "batch_size": (64, 402),                # L402 "batch_size": 64
        "steps": (200000, 159),                 # L159 "training_steps": 200000
        "z_dim": (128, 406),                    # L406 "z_dim": 128
        "fid": (28.66, 156),                    # L156 "# Line 1: FID score: ..." (paper.fid)
    }),
    # BestModelSNDCGan() "Line 7", generate_tasks_lib.py lines 237-249
    "sndcgan-ns-sn-cifar10": ("BestModelSNDCGan", 7, {
        "architecture": ("sndcgan", 401),       # L401 "architecture": consts.SNDCGAN_ARCH
        "resolution": (32, ("params.py", 360)), # params.py L360 DATASET_PARAMS["cifar10"]["input_height"]
        "normalization": ("spectral", 246),     # L246 "discriminator_normalization": consts.SPECTRAL_NORM
        "loss": ("ns", 403),                    # L403 "gan_type": consts.GAN_WITH_PENALTY
        "penalty": ("none", 241),               # L241 "penalty_type": consts.NO_PENALTY
        "penalty_weight": (0.0, None),          # L248 "lambda": 1 is unused without a penalty
        "disc_iters": (1, 245),                 # L245 "disc_iters": 1
        "g_lr": (0.0002, 242),                  # L242 "learning_rate": 0.0002 (one rate for G and D)
        "d_lr": (0.0002, 242),                  # L242 "learning_rate": 0.0002
        "beta1": (0.5, 243),                    # L243 "beta1": 0.5
        "beta2": (0.999, 244),                  # L244 "beta2": 0.999
        "batch_size": (64, 402),                # L402 "batch_size": 64
        "steps": (200000, 240),                 # L240 "training_steps": 200000
        "z_dim": (128, 406),                    # L406 "z_dim": 128
        "fid": (25.27, 237),                    # L237 "# Line 7: FID score: ..." (paper.fid)
    }),
    # BestModelSNDCGan() "Line 14", generate_tasks_lib.py lines 331-343
    "sndcgan-ns-sngp-cifar10": ("BestModelSNDCGan", 14, {
        "architecture": ("sndcgan", 401),       # L401 "architecture": consts.SNDCGAN_ARCH
        "resolution": (32, ("params.py", 360)), # params.py L360 DATASET_PARAMS["cifar10"]["input_height"]
        "normalization": ("spectral", 340),     # L340 "discriminator_normalization": consts.SPECTRAL_NORM
        "loss": ("ns", 403),                    # L403 "gan_type": consts.GAN_WITH_PENALTY
        "penalty": ("wgan_gp", 335),            # L335 "penalty_type": consts.WGANGP_PENALTY
        "penalty_weight": (10.0, 342),          # L342 "lambda": 10
        "disc_iters": (1, 339),                 # L339 "disc_iters": 1
        "g_lr": (0.0002, 336),                  # L336 "learning_rate": 0.0002 (one rate for G and D)
        "d_lr": (0.0002, 336),                  # L336 "learning_rate": 0.0002
        "beta1": (0.5, 337),                    # L337 "beta1": 0.5
        "beta2": (0.999, 338),                  # L338 "beta2": 0.999
        "batch_size": (64, 402),                # L402 "batch_size": 64
        "steps": (200000, 334),                 # L334 "training_steps": 200000
        "z_dim": (128, 406),                    # L406 "z_dim": 128
        "fid": (26.0, 331),                     # L331 "# Line 14: FID score: ..." (paper.fid)
    }),
    # BestModelResnetCifar() "Line 1", generate_tasks_lib.py lines 598-609
    "resnet_cifar-ns-none-cifar10": ("BestModelResnetCifar", 1, {
        "architecture": ("resnet_cifar", 682),  # L682 "architecture": consts.RESNET_CIFAR
        "resolution": (32, ("params.py", 360)), # params.py L360 DATASET_PARAMS["cifar10"]["input_height"]
        "normalization": ("none", 606),         # L606 "discriminator_normalization": consts.NO_NORMALIZATION
        "loss": ("ns", 685),                    # L685 "gan_type": consts.GAN_WITH_PENALTY
        "penalty": ("none", 601),               # L601 "penalty_type": consts.NO_PENALTY
        "penalty_weight": (0.0, None),          # L608 "lambda": 10 is unused without a penalty
        "disc_iters": (5, 605),                 # L605 "disc_iters": 5
        "g_lr": (0.0002, 602),                  # L602 "learning_rate": 0.0002 (one rate for G and D)
        "d_lr": (0.0002, 602),                  # L602 "learning_rate": 0.0002
        "beta1": (0.5, 603),                    # L603 "beta1": 0.5
        "beta2": (0.999, 604),                  # L604 "beta2": 0.999
        "batch_size": (64, 684),                # L684 "batch_size": 64
        "steps": (200000, 600),                 # L600 "training_steps": 200000
        "z_dim": (128, 688),                    # L688 "z_dim": 128
        "fid": (28.12, 598),                    # L598 "# Line 1: FID score: ..." (paper.fid)
    }),
    # BestModelResnetCifar() "Line 3", generate_tasks_lib.py lines 625-636
    "resnet_cifar-ns-sn-cifar10": ("BestModelResnetCifar", 3, {
        "architecture": ("resnet_cifar", 682),  # L682 "architecture": consts.RESNET_CIFAR
        "resolution": (32, ("params.py", 360)), # params.py L360 DATASET_PARAMS["cifar10"]["input_height"]
        "normalization": ("spectral", 633),     # L633 "discriminator_normalization": consts.SPECTRAL_NORM
        "loss": ("ns", 685),                    # L685 "gan_type": consts.GAN_WITH_PENALTY
        "penalty": ("none", 628),               # L628 "penalty_type": consts.NO_PENALTY
        "penalty_weight": (0.0, None),          # L635 "lambda": 10 is unused without a penalty
        "disc_iters": (5, 632),                 # L632 "disc_iters": 5
        "g_lr": (0.0002, 629),                  # L629 "learning_rate": 0.0002 (one rate for G and D)
        "d_lr": (0.0002, 629),                  # L629 "learning_rate": 0.0002
        "beta1": (0.5, 630),                    # L630 "beta1": 0.5
        "beta2": (0.999, 631),                  # L631 "beta2": 0.999
        "batch_size": (64, 684),                # L684 "batch_size": 64
        "steps": (200000, 627),                 # L627 "training_steps": 200000
        "z_dim": (128, 688),                    # L688 "z_dim": 128
        "fid": (22.91, 625),                    # L625 "# Line 3: FID score: ..." (paper.fid)
    }),
    # BestModelResnetCifar() "Line 5", generate_tasks_lib.py lines 653-664
    "resnet_cifar-ns-sngp-cifar10": ("BestModelResnetCifar", 5, {
        "architecture": ("resnet_cifar", 682),  # L682 "architecture": consts.RESNET_CIFAR
        "resolution": (32, ("params.py", 360)), # params.py L360 DATASET_PARAMS["cifar10"]["input_height"]
        "normalization": ("spectral", 661),     # L661 "discriminator_normalization": consts.SPECTRAL_NORM
        "loss": ("ns", 685),                    # L685 "gan_type": consts.GAN_WITH_PENALTY
        "penalty": ("wgan_gp", 656),            # L656 "penalty_type": consts.WGANGP_PENALTY
        "penalty_weight": (1.0, 663),           # L663 "lambda": 1
        "disc_iters": (5, 660),                 # L660 "disc_iters": 5
        "g_lr": (0.0002, 657),                  # L657 "learning_rate": 0.0002 (one rate for G and D)
        "d_lr": (0.0002, 657),                  # L657 "learning_rate": 0.0002
        "beta1": (0.5, 658),                    # L658 "beta1": 0.5
        "beta2": (0.999, 659),                  # L659 "beta2": 0.999
        "batch_size": (64, 684),                # L684 "batch_size": 64
        "steps": (200000, 655),                 # L655 "training_steps": 200000
        "z_dim": (128, 688),                    # L688 "z_dim": 128
        "fid": (22.73, 653),                    # L653 "# Line 5: FID score: ..." (paper.fid)
    }),
    # BestModelSNDCGan() "Line 15", generate_tasks_lib.py lines 344-356
    "sndcgan-ns-sngp-celebahq": ("BestModelSNDCGan", 15, {
        "architecture": ("sndcgan", 401),       # L401 "architecture": consts.SNDCGAN_ARCH
        "resolution": (128, ("params.py", 396)),# params.py L396 DATASET_PARAMS["celebahq128"]["input_height"]
        "normalization": ("spectral", 353),     # L353 "discriminator_normalization": consts.SPECTRAL_NORM
        "loss": ("ns", 403),                    # L403 "gan_type": consts.GAN_WITH_PENALTY
        "penalty": ("wgan_gp", 348),            # L348 "penalty_type": consts.WGANGP_PENALTY
        "penalty_weight": (1.0, 355),           # L355 "lambda": 1
        "disc_iters": (1, 352),                 # L352 "disc_iters": 1
        "g_lr": (0.0002, 349),                  # L349 "learning_rate": 0.0002 (one rate for G and D)
        "d_lr": (0.0002, 349),                  # L349 "learning_rate": 0.0002
        "beta1": (0.5, 350),                    # L350 "beta1": 0.5
        "beta2": (0.999, 351),                  # L351 "beta2": 0.999
        "batch_size": (64, 402),                # L402 "batch_size": 64
        "steps": (100000, 347),                 # L347 "training_steps": 100000
        "z_dim": (128, 406),                    # L406 "z_dim": 128
        "fid": (24.67, 344),                    # L344 "# Line 15: FID score: ..." (paper.fid)
    }),
    # BestModelResnet19() "Line 9", generate_tasks_lib.py lines 528-540
    "resnet19-ns-sngp-celebahq": ("BestModelResnet19", 9, {
        "architecture": ("resnet19", 583),      # L583 "architecture": consts.RESNET5_ARCH
        "resolution": (128, ("params.py", 396)),# params.py L396 DATASET_PARAMS["celebahq128"]["input_height"]
        "normalization": ("spectral", 537),     # L537 "discriminator_normalization": consts.SPECTRAL_NORM
        "loss": ("ns", 590),                    # L590 "gan_type": consts.GAN_WITH_PENALTY
        "penalty": ("wgan_gp", 532),            # L532 "penalty_type": consts.WGANGP_PENALTY
        "penalty_weight": (1.0, 539),           # L539 "lambda": 1
        "disc_iters": (1, 536),                 # L536 "disc_iters": 1
        "g_lr": (0.0002, 533),                  # L533 "learning_rate": 0.0002 (one rate for G and D)
        "d_lr": (0.0002, 533),                  # L533 "learning_rate": 0.0002
        "beta1": (0.5, 534),                    # L534 "beta1": 0.5
        "beta2": (0.999, 535),                  # L535 "beta2": 0.999
        "batch_size": (64, 584),                # L584 "batch_size": 64
        "steps": (200000, 531),                 # L531 "training_steps": 200000
        "z_dim": (128, 587),                    # L587 "z_dim": 128
        "fid": (29.04, 528),                    # L528 "# Line 9: FID score: ..." (paper.fid)
    }),
    # BestModelResnet19() "Line 5", generate_tasks_lib.py lines 472-484
    "resnet19-ns-ln-celebahq": ("BestModelResnet19", 5, {
        "architecture": ("resnet19", 583),      # L583 "architecture": consts.RESNET5_ARCH
        "resolution": (128, ("params.py", 396)),# params.py L396 DATASET_PARAMS["celebahq128"]["input_height"]
        "normalization": ("layer", 481),        # L481 "discriminator_normalization": consts.LAYER_NORM
        "loss": ("ns", 590),                    # L590 "gan_type": consts.GAN_WITH_PENALTY
        "penalty": ("none", 476),               # L476 "penalty_type": consts.NO_PENALTY
        "penalty_weight": (0.0, None),          # L483 "lambda": 0.001 is unused without a penalty
        "disc_iters": (1, 480),                 # L480 "disc_iters": 1
        "g_lr": (0.0001, 477),                  # L477 "learning_rate": 0.0001 (one rate for G and D)
        "d_lr": (0.0001, 477),                  # L477 "learning_rate": 0.0001
        "beta1": (0.5, 478),                    # L478 "beta1": 0.5
        "beta2": (0.999, 479),                  # L479 "beta2": 0.999
        "batch_size": (64, 584),                # L584 "batch_size": 64
        "steps": (200000, 475),                 # L475 "training_steps": 200000
        "z_dim": (128, 587),                    # L587 "z_dim": 128
        "fid": (30.02, 472),                    # L472 "# Line 5: FID score: ..." (paper.fid)
    }),
    # BestModelResnet19() "Line 11", generate_tasks_lib.py lines 554-566
    "resnet19-ns-lngp-lsun_bedroom": ("BestModelResnet19", 11, {
        "architecture": ("resnet19", 583),      # L583 "architecture": consts.RESNET5_ARCH
        "resolution": (128, ("params.py", 387)),# params.py L387 DATASET_PARAMS["lsun-bedroom"]["input_height"]
        "normalization": ("layer", 563),        # L563 "discriminator_normalization": consts.LAYER_NORM
        "loss": ("ns", 590),                    # L590 "gan_type": consts.GAN_WITH_PENALTY
        "penalty": ("wgan_gp", 558),            # L558 "penalty_type": consts.WGANGP_PENALTY
        "penalty_weight": (0.1451, 565),        # L565 "lambda": 0.1451
        "disc_iters": (1, 562),                 # L562 "disc_iters": 1
        "g_lr": (0.0001281, 559),               # L559 "learning_rate": 0.0001281 (one rate for G and D)
        "d_lr": (0.0001281, 559),               # L559 "learning_rate": 0.0001281
        "beta1": (0.7108, 560),                 # L560 "beta1": 0.7108
        "beta2": (0.9792, 561),                 # L561 "beta2": 0.9792
        "batch_size": (64, 584),                # L584 "batch_size": 64
        "steps": (200000, 557),                 # L557 "training_steps": 200000
        "z_dim": (128, 587),                    # L587 "z_dim": 128
        "fid": (40.36, 554),                    # L554 "# Line 11: FID score: ..." (paper.fid)
    }),
    # BestModelResnet19() "Line 7", generate_tasks_lib.py lines 498-511
    "resnet19-ls-sn-lsun_bedroom": ("BestModelResnet19", 7, {
        "architecture": ("resnet19", 583),      # L583 "architecture": consts.RESNET5_ARCH
        "resolution": (128, ("params.py", 387)),# params.py L387 DATASET_PARAMS["lsun-bedroom"]["input_height"]
        "normalization": ("spectral", 508),     # L508 "discriminator_normalization": consts.SPECTRAL_NORM
        "loss": ("ls", 501),                    # L501 "gan_type": consts.LSGAN_WITH_PENALTY
        "penalty": ("none", 503),               # L503 "penalty_type": consts.NO_PENALTY
        "penalty_weight": (0.0, None),          # L510 "lambda": 1 is unused without a penalty
        "disc_iters": (1, 507),                 # L507 "disc_iters": 1
        "g_lr": (0.0002, 504),                  # L504 "learning_rate": 0.0002 (one rate for G and D)
        "d_lr": (0.0002, 504),                  # L504 "learning_rate": 0.0002
        "beta1": (0.5, 505),                    # L505 "beta1": 0.5
        "beta2": (0.999, 506),                  # L506 "beta2": 0.999
        "batch_size": (64, 584),                # L584 "batch_size": 64
        "steps": (200000, 502),                 # L502 "training_steps": 200000
        "z_dim": (128, 587),                    # L587 "z_dim": 128
        "fid": (41.6, 498),                     # L498 "# Line 7: FID score: ..." (paper.fid)
    }),
    # BestModelSNDCGan() "Line 11", generate_tasks_lib.py lines 289-301
    "sndcgan-ns-sn-lsun_bedroom": ("BestModelSNDCGan", 11, {
        "architecture": ("sndcgan", 401),       # L401 "architecture": consts.SNDCGAN_ARCH
        "resolution": (128, ("params.py", 387)),# params.py L387 DATASET_PARAMS["lsun-bedroom"]["input_height"]
        "normalization": ("spectral", 298),     # L298 "discriminator_normalization": consts.SPECTRAL_NORM
        "loss": ("ns", 403),                    # L403 "gan_type": consts.GAN_WITH_PENALTY
        "penalty": ("none", 293),               # L293 "penalty_type": consts.NO_PENALTY
        "penalty_weight": (0.0, None),          # L300 "lambda": 0.3 is unused without a penalty
        "disc_iters": (1, 297),                 # L297 "disc_iters": 1
        "g_lr": (0.000264, 294),                # L294 "learning_rate": 0.000264 (one rate for G and D)
        "d_lr": (0.000264, 294),                # L294 "learning_rate": 0.000264
        "beta1": (0.011, 295),                  # L295 "beta1": 0.011
        "beta2": (0.966, 296),                  # L296 "beta2": 0.966
        "batch_size": (64, 402),                # L402 "batch_size": 64
        "steps": (100000, 292),                 # L292 "training_steps": 100000
        "z_dim": (128, 406),                    # L406 "z_dim": 128
        "fid": (53.59, 289),                    # L289 "# Line 11: FID score: ..." (paper.fid)
    }),

}

# The configuration the code does not define (see the entry's note): every optimiser value, n_disc
# and steps are defaults taken from the closest task and must stay listed as unverified.
NOT_IN_COMPARE_GAN = {
    "resnet19-ns-sn-celebahq": {"g_lr", "d_lr", "beta1", "beta2", "disc_iters", "steps"},
}


@pytest.fixture(autouse=True)
def installed_manifest(monkeypatch):
    monkeypatch.delenv("GANZOO_MANIFEST", raising=False)


# Class-conditional recipes (not compare_gan's): issue 13's standard conditional CIFAR10 model,
# SNGAN with projection (Miyato & Koyama 2018), its optimiser as that paper states it.
CONDITIONAL = {
    "resnet_cifar-hinge-sn-cifar10-cond": {
        "architecture": "resnet_cifar", "resolution": 32, "normalization": "spectral", "z_dim": 128,
        "num_classes": 10, "class_embedding": 0, "loss": "hinge", "penalty": "none", "penalty_weight": 0.0,
        "disc_iters": 5, "g_lr": 2e-4, "d_lr": 2e-4, "beta1": 0.0, "beta2": 0.9, "batch_size": 64,
        "steps": 50_000 * 5,  # 50k generator updates; ganzoo counts discriminator steps
        "ema_decay": None,
    },
}


def test_every_manifest_entry_is_pinned_here():
    assert set(manifest.names()) == set(RECIPES) | set(NOT_IN_COMPARE_GAN) | set(CONDITIONAL)


@pytest.mark.parametrize("name", sorted(CONDITIONAL))
def test_conditional_recipe_and_its_targets(name, capsys):
    entry = manifest.get_entry(name)
    assert {k: entry["training"][k] for k in CONDITIONAL[name]} == CONDITIONAL[name]
    assert entry["status"] == "recipe" and not entry["paper"]["in_best_table"]
    assert entry["paper"]["fid"] == 17.5 and "Miyato & Koyama" in entry["paper"]["source"]
    (studiogan,) = entry["targets"]
    assert (studiogan["metric"], studiogan["value"]) == ("fid", 9.01)
    assert "50,000 generated images and the 50,000 CIFAR10 training images" in studiogan["protocol"]
    from ganzoo.cli.main import main as cli

    assert cli(["info", name]) == 0
    out = capsys.readouterr().out
    assert "target FID: 9.01  (StudioGAN" in out and "paper FID: 17.5" in out and "num_classes     10" in out


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_recipe_matches_generate_tasks_lib(name):
    _, _, pinned = RECIPES[name]
    entry = manifest.get_entry(name)
    training = entry["training"]
    for key, (value, _) in pinned.items():
        actual = entry["paper"]["fid"] if key == "fid" else training[key]
        if isinstance(value, str):
            assert actual == value, key
        else:
            assert actual == pytest.approx(value, rel=1e-12, abs=0.0), key
            assert type(actual) is type(value) or key in ("penalty_weight", "fid"), key
    assert training["ema_decay"] is None  # compare_gan v2.0 has no generator EMA
    # The fields compare_gan v2.0 has no counterpart of (the EMA, issue 14's stabilisation
    # options) are off: their defaults.
    from ganzoo.recipe import Recipe

    outside = {"ema_decay", "ema_start_step", "real_label_smoothing", "fake_label_smoothing", "updates",
               "d_weight_clip", "minibatch_stddev", "minibatch_discrimination", "weight_init", "g_objective",
               "orthogonal_reg", "num_classes", "class_embedding", "jacobian_clamp_min", "jacobian_clamp_max",
               "self_attention", "unrolled_steps"}
    # (the paper's models are unconditional
    default = Recipe(training["architecture"])
    assert all(training[key] == getattr(default, key) for key in outside - {"ema_decay"})
    assert set(pinned) - {"fid"} == set(manifest.TRAINING_KEYS) - outside
    # The code states every value: nothing is left unverified, and the source cites the task.
    assert entry["paper"]["unverified"] == []
    assert entry["paper"]["in_best_table"]
    function, line, _ = RECIPES[name]
    assert f"{function}() 'Line {line}'" in entry["paper"]["source"]


def test_the_issue_values():
    """The values of the issue "The paper's exact step", spelled out."""
    def training(name):
        return manifest.get_entry(name)["training"]

    lsun_sndcgan = training("sndcgan-ns-sn-lsun_bedroom")  # BestModelSNDCGan() Line 11, L294-296
    assert (lsun_sndcgan["g_lr"], lsun_sndcgan["d_lr"]) == (2.64e-4, 2.64e-4)
    assert (lsun_sndcgan["beta1"], lsun_sndcgan["beta2"]) == (0.011, 0.966)
    assert training("resnet19-ns-sngp-celebahq")["disc_iters"] == 1  # BestModelResnet19() Line 9, L536
    assert training("resnet19-ns-lngp-lsun_bedroom")["penalty_weight"] == 0.1451  # Line 11, L565
    for name in ("resnet19-ns-sngp-celebahq", "resnet19-ns-ln-celebahq",
                 "resnet19-ns-lngp-lsun_bedroom", "resnet19-ls-sn-lsun_bedroom"):
        assert training(name)["steps"] == 200_000, name  # BestModelResnet19() L531, L475, L557, L502


@pytest.mark.parametrize("name", sorted(NOT_IN_COMPARE_GAN))
def test_configuration_outside_compare_gan_stays_unverified(name):
    entry = manifest.get_entry(name)
    assert set(entry["paper"]["unverified"]) == NOT_IN_COMPARE_GAN[name]
    assert not entry["paper"]["in_best_table"] and entry["paper"]["fid"] is None
    # Its defaults follow BestModelResnet19() "Line 9" (L528-540) without the penalty.
    t = entry["training"]
    assert (t["g_lr"], t["d_lr"], t["beta1"], t["beta2"], t["disc_iters"], t["steps"]) == (
        2e-4, 2e-4, 0.5, 0.999, 1, 200_000)


# --- Optional: re-read the cited lines of compare_gan v2.0 -------------------------------------

_MIRROR = pathlib.Path("/work/.mirror/google+compare_gan/repo")
_COMPARE_GAN_KEYS = {
    "architecture": "architecture", "normalization": "discriminator_normalization",
    "loss": "gan_type", "penalty": "penalty_type", "penalty_weight": "lambda",
    "disc_iters": "disc_iters", "g_lr": "learning_rate", "d_lr": "learning_rate",
    "beta1": "beta1", "beta2": "beta2", "batch_size": "batch_size", "steps": "training_steps",
    "z_dim": "z_dim", "resolution": "input_height",
}
_CONSTS = {
    "SNDCGAN_ARCH": "sndcgan", "RESNET5_ARCH": "resnet19", "RESNET_CIFAR": "resnet_cifar",
    "NO_NORMALIZATION": "none", "SPECTRAL_NORM": "spectral", "LAYER_NORM": "layer",
    "GAN_WITH_PENALTY": "ns", "LSGAN_WITH_PENALTY": "ls",
    "NO_PENALTY": "none", "WGANGP_PENALTY": "wgan_gp",
}


def _compare_gan_sources():
    """(generate_tasks_lib.py lines, params.py lines) of compare_gan v2.0, or skip."""
    path = os.environ.get("COMPARE_GAN_GENERATE_TASKS_LIB")
    if path:
        tasks = pathlib.Path(path)
        return tasks.read_text().splitlines(), (tasks.parent / "params.py").read_text().splitlines()
    if not _MIRROR.is_dir():
        pytest.skip("compare_gan source not available (set $COMPARE_GAN_GENERATE_TASKS_LIB)")
    texts = []
    for name in ("generate_tasks_lib.py", "params.py"):
        result = subprocess.run(["git", "-C", str(_MIRROR), "show", f"v2.0:compare_gan/src/{name}"],
                                capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"compare_gan mirror has no v2.0 {name}: {result.stderr.strip()}")
        texts.append(result.stdout.splitlines())
    return texts


def _stated(line, key):
    """The value a source line gives `key` ("key": value), constants mapped to ganzoo names."""
    match = re.search(r'"%s":\s*([^,}#\s]+)' % key, line)
    assert match, (key, line)
    text = match.group(1)
    if text.startswith("consts."):
        return _CONSTS[text[len("consts."):]]
    return ast.literal_eval(text)


def _task_dicts(tree, function):
    """(function node, best_models list node) of a BestModel* function."""
    node = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == function)
    listing = next(a.value for a in ast.walk(node) if isinstance(a, ast.Assign)
                   and getattr(a.targets[0], "id", None) == "best_models")
    return node, listing


def test_citations_match_compare_gan_source():
    tasks, params = _compare_gan_sources()
    tree = ast.parse("\n".join(tasks))
    for name, (function, task_line, pinned) in RECIPES.items():
        node, listing = _task_dicts(tree, function)
        task = listing.elts[task_line - 1]
        task_keys = {k.value for k in task.keys}
        header = task.lineno - 1
        assert tasks[header - 1].strip().startswith(f"# Line {task_line}:"), name
        for key, (value, line) in pinned.items():
            where = f"{name}.{key} (line {line})"
            if line is None:
                assert key == "penalty_weight" and pinned["penalty"][0] == "none", where
                assert value == 0.0, where
                continue
            if key == "fid":
                assert line == header, where
                assert float(tasks[line - 1].split("FID score:")[1]) == pytest.approx(value), where
                continue
            if isinstance(line, tuple):
                source_line = params[line[1] - 1]
            else:
                source_line = tasks[line - 1]
                in_task = task.lineno <= line <= task.end_lineno
                # Otherwise a shared value from the model.update after the list, which the task
                # must not override.
                shared = listing.end_lineno < line <= node.end_lineno
                assert in_task or (shared and _COMPARE_GAN_KEYS[key] not in task_keys), where
            stated = _stated(source_line, _COMPARE_GAN_KEYS[key])
            if isinstance(value, str):
                assert stated == value, where
            else:
                assert stated == pytest.approx(value, rel=1e-12, abs=0.0), where
