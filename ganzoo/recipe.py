"""The recipe: every hyper-parameter of a GAN run, with its default, its choices and its checks.

`Recipe` is the one place these live. What derives from it:

- `ganzoo.build_gan(...)` builds and compiles a GAN from a Recipe (or from its fields as keywords);
- `ganzoo train` defines one flag per field (`Recipe.define_flags`);
- weights_manifest.json's `training` object is a Recipe (`Recipe.json_schema()` is the schema's
  `training` definition; a test keeps ganzoo/zoo/manifest.schema.json equal to it);
- a checkpoint's metadata stores `recipe.to_dict()` as "hyper" and resumes with `Recipe.from_dict`;
- publishing tells a model's recipe from a run's schedule with `Recipe.keys(...)` roles.

The choices come from the registries (ganzoo.architectures, ganzoo.losses, ganzoo.penalties,
ganzoo.layers.normalization), looked up when first needed: this module imports no Keras, so the
manifest tools stay fast.

    >>> Recipe("sndcgan", penalty="wgan_gp", penalty_weight=10.0).d_lr   # D's rate defaults to G's
    0.0002
"""
import dataclasses
import difflib
import functools
import numbers
import typing


class RecipeError(ValueError):
    """A hyper-parameter value that cannot be trained with; the message names the field and the fix."""


# Roles group the fields for the code that must tell them apart:
#   network, objective, optimizer: a run that differs in one of them trains another model;
#   schedule (batch, length) and averaging (the EMA copy of G): a run may change them.
NETWORK, OBJECTIVE, OPTIMIZER, SCHEDULE, AVERAGING = "network", "objective", "optimizer", "schedule", "averaging"
MODEL_ROLES = (NETWORK, OBJECTIVE, OPTIMIZER)


@functools.lru_cache(maxsize=None)
def _registry(name):
    """The valid names of one registry (imported on first use: the registries import Keras)."""
    if name == "architecture":
        from ganzoo.architectures import ARCHITECTURES

        return tuple(ARCHITECTURES)
    if name == "normalization":
        from ganzoo.layers.normalization import DISCRIMINATOR_NORMALIZATIONS

        return tuple(DISCRIMINATOR_NORMALIZATIONS)
    if name == "loss":
        from ganzoo.losses import LOSSES

        return tuple(LOSSES)
    if name == "penalty":
        from ganzoo.penalties import PENALTIES

        return tuple(PENALTIES)
    raise KeyError(name)


def _canonical(field_name, value):
    """A registry name in its canonical spelling (aliases such as 'gp' accepted)."""
    if field_name == "architecture":
        key = str(value).lower().replace("-", "_")
    elif field_name == "normalization":
        key = str(value).lower()
    else:  # the loss and penalty registries know their aliases
        from ganzoo.losses import get_loss
        from ganzoo.penalties import penalty_name

        try:
            return get_loss(value).name if field_name == "loss" else penalty_name(value)
        except ValueError as error:
            raise RecipeError(str(error)) from None
    if key not in _registry(field_name):
        close = difflib.get_close_matches(key, _registry(field_name), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise RecipeError(f"Unknown {field_name} {value!r}; valid choices: "
                          f"{', '.join(_registry(field_name))}.{hint}")
    return key


def _field(default, help, role, *, kind, minimum=None, exclusive_minimum=None, below=None,
           nullable=False, registry=False, choices=None):
    metadata = {"help": help, "role": role, "kind": kind, "minimum": minimum,
                "exclusive_minimum": exclusive_minimum, "below": below, "nullable": nullable,
                "registry": registry, "choices": choices}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def penalty_weight_for(penalty, penalty_weight):
    """The one rule for a penalty's weight: required (>= 0) with a penalty; 0 without one, where a
    non-zero weight is refused (it would be silently ignored)."""
    if penalty == "none":
        if penalty_weight not in (None, 0, 0.0):
            raise RecipeError(
                f"penalty_weight={penalty_weight} has no effect with penalty 'none': choose a penalty "
                "(wgan_gp, dragan, r1, l2) or drop penalty_weight.")
        return 0.0
    if penalty_weight is None:
        raise RecipeError(
            f"penalty {penalty!r} needs penalty_weight (lambda; gamma for r1): the paper's best "
            "settings use 1 or 10 for wgan_gp.")
    if isinstance(penalty_weight, bool) or not isinstance(penalty_weight, numbers.Real):
        raise RecipeError(f"penalty_weight must be a number; got {penalty_weight!r}.")
    if not float(penalty_weight) >= 0:
        raise RecipeError(f"penalty_weight must be >= 0; got {penalty_weight}.")
    return float(penalty_weight)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Every hyper-parameter of a GAN run (the paper's, with compare_gan's defaults).

    Values are checked and put in canonical form on construction; a bad one raises RecipeError.
    `steps` counts discriminator steps, as the paper does.
    """

    architecture: str = _field(dataclasses.MISSING, "Network family.", NETWORK, kind=str, registry=True)
    resolution: typing.Optional[int] = _field(
        None, "Image size (default: the data's, else the family's).", NETWORK, kind=int, minimum=1,
        nullable=True)
    normalization: str = _field("spectral", "Discriminator normalisation.", NETWORK, kind=str,
                                registry=True)
    z_dim: int = _field(128, "Latent size.", NETWORK, kind=int, minimum=1)
    num_classes: int = _field(
        0, "Classes of a class-conditional model (conditional batch norm in G, projection D; "
        "training reads the data's labels); 0 = unconditional.", NETWORK, kind=int, minimum=0)
    class_embedding: int = _field(
        0, "Conditional models: size of BigGAN's shared class embedding feeding G's conditional "
        "batch norms; 0 = per-class gain and bias tables.", NETWORK, kind=int, minimum=0)
    minibatch_stddev: int = _field(
        0, "Minibatch standard deviation (PGGAN) before D's last layer: the group size (e.g. 4; "
        "0 = off).", NETWORK, kind=int, minimum=0)
    minibatch_discrimination: int = _field(
        0, "Minibatch discrimination (Salimans et al. 2016) before D's last layer: the number of "
        "kernels B, each of 5 dimensions (e.g. 100; 0 = off).", NETWORK, kind=int, minimum=0)
    weight_init: str = _field(
        "default", "default: each family's initialisation (the paper's N(0, 0.02)); orthogonal: "
        "every kernel of G and D orthogonal (Saxe et al.; BigGAN).", NETWORK, kind=str,
        choices=("default", "orthogonal"))
    self_attention: int = _field(
        0, "SAGAN's self-attention block (Zhang et al. 2019) in G and D of the ResNet families, after "
        "the first block whose output is this many pixels on a side (e.g. 16 for resnet_cifar, 64 "
        "for resnet19; 0 = off).", NETWORK, kind=int, minimum=0)
    loss: str = _field("ns", "GAN loss.", OBJECTIVE, kind=str, registry=True)
    penalty: str = _field("none", "Discriminator penalty.", OBJECTIVE, kind=str, registry=True)
    penalty_weight: typing.Optional[float] = _field(
        None, "Penalty weight lambda (gamma for r1); required with a penalty, 0 without.", OBJECTIVE,
        kind=float, minimum=0, nullable=True)
    real_label_smoothing: float = _field(
        0.0, "One-sided label smoothing: D's real target is 1 - this (e.g. 0.1; loss ns or minimax "
        "only; 0 = off).", OBJECTIVE, kind=float, minimum=0, below=0.5)
    fake_label_smoothing: float = _field(
        0.0, "D's fake target is this instead of 0 (with real_label_smoothing: two-sided smoothing; "
        "loss ns or minimax only; 0 = off).", OBJECTIVE, kind=float, minimum=0, below=0.5)
    g_objective: str = _field(
        "loss", "loss: G minimises the GAN loss's generator term; feature_matching: G matches the "
        "batch mean of D's last features on real and fake (Salimans et al. 2016).", OBJECTIVE,
        kind=str, choices=("loss", "feature_matching"))
    orthogonal_reg: float = _field(
        0.0, "BigGAN's orthogonal regularisation of G: beta * sum ||W^T W * (1 - I)||_F^2 over G's "
        "kernels added to G's loss (BigGAN: 1e-4; 0 = off).", OBJECTIVE, kind=float, minimum=0)
    jacobian_clamp_min: typing.Optional[float] = _field(
        None, "Jacobian clamping (Odena et al. 2018): G's gain ||G(z) - G(z + delta)|| / ||delta|| along "
        "random unit directions is pushed up to at least this (Odena: 1); None = no lower bound.",
        OBJECTIVE, kind=float, minimum=0, nullable=True)
    jacobian_clamp_max: typing.Optional[float] = _field(
        None, "Jacobian clamping: that gain is pushed down to at most this (Odena: 20); None = no upper "
        "bound (both None: clamping off).", OBJECTIVE, kind=float, exclusive_minimum=0, nullable=True)
    disc_iters: int = _field(1, "Discriminator updates per generator update (1 or 5 in the paper).",
                             OPTIMIZER, kind=int, minimum=1)
    g_lr: float = _field(2e-4, "Generator learning rate (Adam).", OPTIMIZER, kind=float,
                         exclusive_minimum=0)
    d_lr: typing.Optional[float] = _field(
        None, "Discriminator learning rate (default: g_lr).", OPTIMIZER, kind=float,
        exclusive_minimum=0, nullable=True)
    beta1: float = _field(0.5, "Adam beta1.", OPTIMIZER, kind=float, minimum=0, below=1)
    beta2: float = _field(0.999, "Adam beta2.", OPTIMIZER, kind=float, minimum=0, below=1)
    updates: str = _field(
        "alternating", "alternating: G's gradient is taken at D's new weights (the paper's); "
        "simultaneous: both gradients at the same weights.", OPTIMIZER, kind=str,
        choices=("alternating", "simultaneous"))
    d_weight_clip: typing.Optional[float] = _field(
        None, "Clip every discriminator weight to [-c, c] after each D update (plain WGAN's "
        "Lipschitz constraint, e.g. 0.01; None = off).", OPTIMIZER, kind=float, exclusive_minimum=0,
        nullable=True)
    unrolled_steps: int = _field(
        0, "Unrolled GAN (Metz et al. 2017): G's loss is taken against a copy of D advanced by this "
        "many look-ahead SGD steps (at d_lr) on the current batch, differentiated through (e.g. 5; "
        "0 = off). D's own update is unchanged.", OPTIMIZER, kind=int, minimum=0)
    batch_size: int = _field(64, "Images per discriminator update.", SCHEDULE, kind=int, minimum=1)
    steps: int = _field(200000, "Total DISCRIMINATOR steps, as the paper counts them; generator "
                        "updates = steps / disc_iters.", SCHEDULE, kind=int, minimum=1)
    ema_decay: typing.Optional[float] = _field(
        None, "Keep an exponential moving average of G with this decay (e.g. 0.999).", AVERAGING,
        kind=float, exclusive_minimum=0, below=1, nullable=True)
    ema_start_step: int = _field(0, "D step from which the EMA averages (before it, it copies G).",
                                 AVERAGING, kind=int, minimum=0)

    # ----------------------------------------------------------------------------------------
    # Checks
    # ----------------------------------------------------------------------------------------

    def __post_init__(self):
        values = {}
        for spec in dataclasses.fields(self):
            values[spec.name] = self._checked(spec, getattr(self, spec.name))
        values["penalty_weight"] = penalty_weight_for(values["penalty"], values["penalty_weight"])
        if values["real_label_smoothing"] or values["fake_label_smoothing"]:
            from ganzoo.losses import check_label_smoothing

            try:
                check_label_smoothing(values["loss"], values["real_label_smoothing"],
                                      values["fake_label_smoothing"])
            except ValueError as error:
                raise RecipeError(str(error)) from None
        if values["num_classes"] == 1 or (values["class_embedding"] and not values["num_classes"]):
            raise RecipeError(
                f"num_classes {values['num_classes']}, class_embedding {values['class_embedding']}: a "
                "conditional model needs num_classes >= 2 (0 = unconditional), and class_embedding "
                "needs a conditional model.")
        if values["minibatch_stddev"] == 1:
            raise RecipeError("minibatch_stddev 1: the standard deviation of a group of one sample is "
                              "0; use a group size of at least 2 (PGGAN: 4) or 0 for off.")
        low, high = values["jacobian_clamp_min"], values["jacobian_clamp_max"]
        if low is not None and high is not None and not low < high:
            raise RecipeError(f"jacobian_clamp_min {low} must be below jacobian_clamp_max {high} "
                              "(Odena et al.: 1 and 20).")
        if values["d_lr"] is None:
            values["d_lr"] = values["g_lr"]
        for name, value in values.items():
            object.__setattr__(self, name, value)
        if self.resolution is not None:
            self.check_networks()
        if self.self_attention:
            self._check_attention()

    @staticmethod
    def _checked(spec, value):
        info = spec.metadata
        name = spec.name
        if value is None:
            if info["nullable"]:
                return None
            raise RecipeError(f"{name} cannot be None; its default is {spec.default!r}.")
        if info["registry"]:
            return _canonical(name, value)
        if info["choices"]:
            key = str(value).lower()
            if key not in info["choices"]:
                close = difflib.get_close_matches(key, info["choices"], n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise RecipeError(f"Unknown {name} {value!r}; valid choices: "
                                  f"{', '.join(info['choices'])}.{hint}")
            return key
        kind = info["kind"]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise RecipeError(f"{name} must be a{'n integer' if kind is int else ' number'}; got {value!r}.")
        if value != value:
            raise RecipeError(f"{name} is NaN.")
        if kind is int:
            if int(value) != value:
                raise RecipeError(f"{name} must be a whole number; got {value!r}.")
            value = int(value)
        else:
            value = float(value)
        if info["minimum"] is not None and value < info["minimum"]:
            raise RecipeError(f"{name} must be at least {info['minimum']}; got {value}.")
        if info["exclusive_minimum"] is not None and value <= info["exclusive_minimum"]:
            raise RecipeError(f"{name} must be above {info['exclusive_minimum']}; got {value}.")
        if info["below"] is not None and value >= info["below"]:
            raise RecipeError(f"{name} must be below {info['below']}; got {value}.")
        return value

    def check_schedule(self):
        """Refuse a run length that the schedule cannot make: training makes disc_iters D steps per
        generator update. (Building a GAN does not need it: the schedule is the trainer's.)"""
        if self.steps % self.disc_iters:
            raise RecipeError(
                f"steps {self.steps} counts discriminator steps and must be a multiple of "
                f"disc_iters {self.disc_iters} (each generator update makes disc_iters D steps).")
        return self

    def check_networks(self, resolution=None):
        """Refuse an architecture/resolution/normalisation the networks cannot be built with."""
        from ganzoo.architectures import ARCHITECTURES, sndcgan

        resolution = int(resolution if resolution is not None else self.resolution)
        generator_cls = ARCHITECTURES[self.architecture][0]
        fixed = getattr(generator_cls, "RESOLUTION", None)
        if self.architecture == "mlp2d" and resolution != 1:
            raise RecipeError(f"resolution {resolution}: architecture mlp2d makes 2-D points, not "
                              "images; its resolution is 1 (or leave resolution unset).")
        if self.architecture == "mlp2d" and self.normalization not in ("none", "spectral"):
            raise RecipeError(f"normalization {self.normalization}: mlp2d's discriminator takes "
                              "none or spectral.")
        if fixed is not None and resolution != fixed:
            raise RecipeError(f"resolution {resolution}: architecture {self.architecture} is defined for "
                              f"{fixed}x{fixed} images only. Use resolution {fixed} (resizing other data), "
                              "or sndcgan, which takes any multiple of 8.")
        if self.architecture == "sndcgan":
            try:
                sndcgan._check_resolution(resolution)
            except ValueError as error:
                raise RecipeError(f"resolution {resolution}: {error}") from None
            if self.normalization not in sndcgan.SNDCGAN_D_NORMALIZATIONS:
                raise RecipeError(
                    f"normalization {self.normalization}: the paper's SNDCGAN discriminator takes "
                    f"{' or '.join(sndcgan.SNDCGAN_D_NORMALIZATIONS)} only. Use one of those, or "
                    "architecture resnet_cifar/resnet19 for batch or layer norm.")

    def _check_attention(self):
        from ganzoo.architectures import ARCHITECTURES
        from ganzoo.architectures.blocks import ResNetDiscriminator, ResNetGenerator

        generator_cls, discriminator_cls, default_resolution = ARCHITECTURES[self.architecture]
        resolution = int(self.resolution or default_resolution)
        if not (issubclass(generator_cls, ResNetGenerator) and issubclass(discriminator_cls, ResNetDiscriminator)):
            raise RecipeError(f"self_attention {self.self_attention}: SAGAN's block is placed in the ResNet "
                              f"families (resnet_cifar, resnet19), not {self.architecture}; use 0.")
        both = sorted(set(generator_cls.block_sides(resolution)) & set(discriminator_cls.block_sides(resolution)))
        if self.self_attention not in both:
            raise RecipeError(f"self_attention {self.self_attention}: {self.architecture} has blocks of that "
                              f"output side in both G and D only at {', '.join(map(str, both))}; use one of "
                              "those, or 0 for none.")

    # ----------------------------------------------------------------------------------------
    # Conversions
    # ----------------------------------------------------------------------------------------

    @classmethod
    def field_names(cls):
        return tuple(spec.name for spec in dataclasses.fields(cls))

    @classmethod
    def keys(cls, *roles):
        """The field names of the given roles (all fields without roles), in declaration order."""
        return tuple(spec.name for spec in dataclasses.fields(cls)
                     if not roles or spec.metadata["role"] in roles)

    @classmethod
    def from_dict(cls, mapping, *, where="the recipe"):
        """A Recipe from a dict (a manifest `training` object, a checkpoint's "hyper"); unknown keys
        are refused, naming the closest field. Missing fields take their defaults."""
        if isinstance(mapping, Recipe):
            return mapping
        if not isinstance(mapping, dict):
            raise RecipeError(f"{where} must be an object of hyper-parameters; got {type(mapping).__name__}.")
        names = cls.field_names()
        unknown = [key for key in mapping if key not in names]
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(str(key), names, n=1)
                hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise RecipeError(f"{where} has unknown hyper-parameters {', '.join(hints)}; the fields are "
                              f"{', '.join(names)}.")
        if "architecture" not in mapping:
            raise RecipeError(f"{where} names no architecture ({', '.join(_registry('architecture'))}).")
        return cls(**mapping)

    def to_dict(self):
        """The plain dict of every field (JSON-ready; `from_dict` reads it back equal)."""
        return dataclasses.asdict(self)

    def override(self, **changes):
        """A new Recipe with `changes` applied. A new penalty keeps the old weight only if the penalty
        stays: changing it without a penalty_weight is refused (the weight belonged to the old one)."""
        self._refuse_unknown(changes)
        if "penalty" in changes and "penalty_weight" not in changes:
            penalty = _canonical("penalty", changes["penalty"])
            if penalty == "none":
                changes["penalty_weight"] = None
            elif penalty != self.penalty:
                raise RecipeError(
                    f"penalty {penalty} needs its own penalty_weight: the weight {self.penalty_weight} "
                    f"belongs to penalty {self.penalty}. Give penalty_weight too (the paper's best "
                    "settings use 1 or 10 for wgan_gp).")
        if "g_lr" in changes and "d_lr" not in changes and self.d_lr == self.g_lr:
            changes["d_lr"] = None  # D's rate was tied to G's: keep it tied
        return dataclasses.replace(self, **changes)

    @classmethod
    def _refuse_unknown(cls, mapping):
        unknown = [key for key in mapping if key not in cls.field_names()]
        if unknown:
            raise RecipeError(f"Unknown hyper-parameters {', '.join(map(repr, unknown))}; the fields are "
                              f"{', '.join(cls.field_names())}.")

    # ----------------------------------------------------------------------------------------
    # What derives from the fields
    # ----------------------------------------------------------------------------------------

    @classmethod
    def choices(cls, name):
        """The registry names a field takes, or None for a number."""
        spec = {s.name: s for s in dataclasses.fields(cls)}[name]
        return _registry(name) if spec.metadata["registry"] else spec.metadata["choices"]

    @classmethod
    def json_schema(cls, resolutions=(32, 48, 64, 128)):
        """The JSON schema of a Recipe as weights_manifest.json stores it (its `training` object).

        Every field is required (a manifest states whole recipes); `resolutions` are the zoo's
        data sets' sizes."""
        properties, required = {}, []
        for spec in dataclasses.fields(cls):
            info = spec.metadata
            if info["registry"]:
                schema = {"enum": list(_registry(spec.name))}
            elif info["choices"]:
                schema = {"enum": list(info["choices"])}
            elif spec.name == "resolution":
                schema = {"enum": list(resolutions)}
            else:
                schema = {"type": "integer" if info["kind"] is int else "number"}
                if info["minimum"] is not None:
                    schema["minimum"] = info["minimum"]
                if info["exclusive_minimum"] is not None:
                    schema["exclusiveMinimum"] = info["exclusive_minimum"]
                if info["below"] is not None:
                    schema["exclusiveMaximum"] = info["below"]
                if info["nullable"] and spec.name not in ("penalty_weight", "d_lr"):
                    schema["type"] = [schema["type"], "null"]
            schema = {"description": info["help"], **schema}
            properties[spec.name] = schema
            required.append(spec.name)
        return {"description": "A ganzoo.recipe.Recipe: the keyword arguments of ganzoo.build_gan and "
                               "the recipe `ganzoo train --config NAME` trains.",
                "type": "object", "additionalProperties": False, "required": required,
                "properties": properties}

    @classmethod
    def define_flags(cls, flag_values):
        """One absl flag per field, default None (so a given flag is told from a default), the help
        naming the default and the choices."""
        from absl import flags

        for spec in dataclasses.fields(cls):
            info = spec.metadata
            default = "" if spec.default is dataclasses.MISSING else f" (default {spec.default})"
            text = info["help"] + default
            if info["registry"] or info["choices"]:
                flags.DEFINE_enum(spec.name, None, list(cls.choices(spec.name)), text,
                                  flag_values=flag_values)
            elif info["kind"] is int:
                flags.DEFINE_integer(spec.name, None, text, flag_values=flag_values)
            else:
                flags.DEFINE_float(spec.name, None, text, flag_values=flag_values)

    @property
    def jacobian_clamping(self):
        """GAN.compile's jacobian_clamping: (min, max), or None when both are None (off)."""
        bounds = (self.jacobian_clamp_min, self.jacobian_clamp_max)
        return None if bounds == (None, None) else bounds

    def gan_kwargs(self):
        """The fields GAN construction reads (every field but the schedule)."""
        return {k: v for k, v in self.to_dict().items() if k not in self.keys(SCHEDULE)}
