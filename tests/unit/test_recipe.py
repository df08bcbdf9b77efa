"""ganzoo.recipe.Recipe: the one source of the hyper-parameters, checked against the paper's code
(compare_gan v2) and against everything that derives from it (build_gan, the train flags, the
manifest schema, checkpoint metadata, publishing's key groups)."""
import dataclasses
import json

import pytest

from ganzoo.recipe import MODEL_ROLES, Recipe, RecipeError


def test_defaults_are_compare_gans():
    # compare_gan v2 gan_lib/abstract_gan: Adam(lr 2e-4, beta1 0.5, beta2 0.999), batch 64,
    # z_dim 128, disc_iters 1, NS loss, no penalty; the paper's 200k D steps (REFERENCE.md).
    r = Recipe("sndcgan")
    assert (r.g_lr, r.d_lr, r.beta1, r.beta2) == (2e-4, 2e-4, 0.5, 0.999)
    assert (r.batch_size, r.z_dim, r.disc_iters, r.steps) == (64, 128, 1, 200000)
    assert (r.loss, r.penalty, r.penalty_weight, r.normalization) == ("ns", "none", 0.0, "spectral")
    assert (r.ema_decay, r.ema_start_step, r.resolution) == (None, 0, None)


def test_choices_are_the_registries():
    from ganzoo.architectures import ARCHITECTURES
    from ganzoo.layers.normalization import DISCRIMINATOR_NORMALIZATIONS
    from ganzoo.losses import LOSSES
    from ganzoo.penalties import PENALTIES

    assert Recipe.choices("architecture") == tuple(ARCHITECTURES)
    assert Recipe.choices("loss") == tuple(LOSSES)
    assert Recipe.choices("penalty") == tuple(PENALTIES)
    assert Recipe.choices("normalization") == tuple(DISCRIMINATOR_NORMALIZATIONS)
    assert Recipe.choices("g_lr") is None


def test_aliases_are_canonical_and_round_trip():
    r = Recipe("SNDCGAN", loss="non_saturating", penalty="gp", penalty_weight=10, disc_iters=5.0)
    assert (r.architecture, r.loss, r.penalty, r.penalty_weight, r.disc_iters) == (
        "sndcgan", "ns", "wgan_gp", 10.0, 5)
    assert isinstance(r.penalty_weight, float) and isinstance(r.disc_iters, int)
    assert Recipe.from_dict(json.loads(json.dumps(r.to_dict()))) == r


@pytest.mark.parametrize("fields, message", [
    (dict(penalty="wgan_gp"), "penalty 'wgan_gp' needs penalty_weight"),
    (dict(penalty_weight=10), "penalty_weight=10.0 has no effect with penalty 'none'"),
    (dict(penalty="r1", penalty_weight=-1), "penalty_weight must be at least 0"),
    (dict(beta1=1.0), "beta1 must be below 1"),
    (dict(g_lr=0), "g_lr must be above 0"),
    (dict(ema_decay=1.5), "ema_decay must be below 1"),
    (dict(ema_start_step=-1), "ema_start_step must be at least 0"),
    (dict(disc_iters=2.5), "disc_iters must be a whole number"),
    (dict(batch_size=True), "batch_size must be an integer"),
    (dict(z_dim="128"), "z_dim must be an integer"),
    (dict(loss="hinj"), "Did you mean 'hinge'"),
    (dict(resolution=36), "resolution 36: SNDCGAN needs a resolution divisible by 8"),
    (dict(resolution=32, normalization="layer"), "takes none or spectral only"),
    (dict(steps=float("nan")), "steps is NaN"),
    (dict(g_lr=float("nan")), "g_lr is NaN"),
])
def test_bad_values_are_refused_naming_the_field(fields, message):
    with pytest.raises(RecipeError, match=message):
        Recipe("sndcgan", **fields)


def test_unknown_keys_and_a_missing_architecture_are_refused():
    with pytest.raises(RecipeError, match="unknown hyper-parameters 'glr' \\(did you mean 'g_lr'"):
        Recipe.from_dict({"architecture": "sndcgan", "glr": 1e-4})
    with pytest.raises(RecipeError, match="names no architecture"):
        Recipe.from_dict({"loss": "ns"})
    with pytest.raises(RecipeError, match="Unknown hyper-parameters 'lr'"):
        Recipe("sndcgan").override(lr=1e-3)


def test_schedule_check_is_separate_from_building():
    r = Recipe("sndcgan", disc_iters=3)  # buildable; the default 200k steps are not a multiple of 3
    with pytest.raises(RecipeError, match="must be a multiple of disc_iters 3"):
        r.check_schedule()
    assert r.override(steps=300000).check_schedule().steps == 300000


def test_override_keeps_the_penalty_weight_rule_and_the_tied_rates():
    base = Recipe("sndcgan", penalty="wgan_gp", penalty_weight=10.0)
    assert base.override(loss="hinge").penalty_weight == 10.0
    assert base.override(penalty="none").penalty_weight == 0.0
    with pytest.raises(RecipeError, match="needs its own penalty_weight.*belongs to penalty wgan_gp"):
        base.override(penalty="dragan")
    assert base.override(penalty="dragan", penalty_weight=1).penalty_weight == 1.0
    assert base.override(g_lr=1e-4).d_lr == 1e-4  # tied: D follows G, as build_gan(g_lr=...) does
    untied = Recipe("sndcgan", g_lr=1e-4, d_lr=4e-4)
    assert untied.override(g_lr=2e-4).d_lr == 4e-4


def test_manifest_schema_file_is_the_recipes():
    from ganzoo.zoo import manifest

    on_disk = json.loads(manifest.SCHEMA_PATH.read_text(encoding="utf-8"))
    assert on_disk == manifest.load_schema(), (
        "ganzoo/zoo/manifest.schema.json is out of date with ganzoo.recipe.Recipe: run "
        "python -c 'from ganzoo.zoo import manifest; manifest.write_schema()'")
    training = on_disk["$defs"]["training"]
    assert list(training["properties"]) == list(Recipe.field_names())
    assert training["required"] == list(Recipe.field_names())
    assert manifest.TRAINING_KEYS == Recipe.field_names()


def test_every_manifest_recipe_is_a_whole_valid_recipe_and_ema_start_step_can_be_written():
    jsonschema = pytest.importorskip("jsonschema")
    import ganzoo
    from ganzoo.zoo import manifest

    for name in manifest.names():
        recipe = manifest.load_recipe(name).check_schedule()
        assert ganzoo.load_recipe(name) == recipe
        assert recipe.to_dict() == manifest.training_config(name)
    data = manifest.load_manifest()
    name = next(iter(data["models"]))
    data["models"][name]["training"]["ema_start_step"] = 1000
    assert manifest.validate(data) == []
    jsonschema.validate(data, manifest.load_schema())
    data["models"][name]["training"]["g_lr"] = -1.0
    assert any("g_lr" in p for p in manifest.validate(data))


def test_every_field_is_a_train_flag_and_key_groups_partition_the_fields():
    from ganzoo.cli import train
    from ganzoo.zoo import preset, publishing

    for name in Recipe.field_names():
        assert name in train.FLAGS, name
    assert set(publishing.RECIPE_KEYS) | set(publishing.RUN_KEYS) == set(Recipe.field_names())
    assert not set(publishing.RECIPE_KEYS) & set(publishing.RUN_KEYS)
    assert set(preset.BUILD_KEYS) == set(Recipe.field_names()) - {"batch_size", "steps"}
    assert set(Recipe.keys(*MODEL_ROLES)) == set(publishing.RECIPE_KEYS)


def test_build_gan_reads_the_recipe():
    import ganzoo

    recipe = Recipe("sndcgan", resolution=8, loss="hinge", penalty="r1", penalty_weight=0.5,
                    g_lr=1e-4, d_lr=3e-4, beta1=0.0, beta2=0.9, disc_iters=2, z_dim=16,
                    ema_decay=0.99, ema_start_step=7)
    gan = ganzoo.build_gan(recipe, seed=0)
    assert gan.recipe == recipe
    assert (gan.gan_loss.name, gan.penalty_name, gan.penalty_weight, gan.disc_iters) == (
        "hinge", "r1", 0.5, 2)
    assert (gan.ema_decay, gan.ema_start_step, gan.generator.z_dim) == (0.99, 7, 16)
    g_opt, d_opt = gan.optimizer.generator_optimizer, gan.optimizer.discriminator_optimizer
    assert float(g_opt.learning_rate) == pytest.approx(1e-4)
    assert float(d_opt.learning_rate) == pytest.approx(3e-4)
    assert (float(d_opt.beta_1), float(d_opt.beta_2)) == (0.0, pytest.approx(0.9))
    # The same from keywords, and from the dict a checkpoint stores; the family's resolution is filled in.
    assert ganzoo.build_gan(**recipe.to_dict()).recipe == recipe
    assert ganzoo.build_gan(recipe.to_dict()).recipe == recipe
    assert ganzoo.build_gan("sndcgan").recipe.resolution == 32
    with pytest.raises(TypeError, match="architecture twice"):
        ganzoo.build_gan("sndcgan", architecture="sndcgan")


def test_recipe_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Recipe("sndcgan").g_lr = 1.0
