"""The GAN model: a keras.Model whose train_step makes the paper's discriminator and generator
updates, written once with keras.ops; ganzoo.backend holds the per-backend plumbing (gradients,
optimizer application, the state layout and the Keras train_step that feeds this step).

One fit() step is one group of compare_gan's schedule, all inside one compiled step:
`disc_iters` discriminator updates, each on its own slice of the batch and its own z, with the
generator update right after the first of them (abstract_gan.run_single_train_step updates G
after D step k when (k - 1) % disc_iters == 0), reusing that update's z as the paper does.
"""
import inspect
import warnings

import keras
import numpy as np
from keras import ops

from ganzoo import backend
from ganzoo import random as noise_random
from ganzoo.architectures import ARCHITECTURES, build_discriminator, build_generator, check_sample_args
from ganzoo.losses import with_label_smoothing
from ganzoo.optimizers import GANOptimizer, paper_adam
from ganzoo.penalties import get_penalty, penalty_name
from ganzoo.recipe import Recipe, penalty_weight_for
from ganzoo.utils.images import check_training_dtype

# The penalties that bound D's gradient (a Lipschitz constraint for WGAN); l2 only shrinks weights.
GRADIENT_PENALTIES = ("wgan_gp", "dragan", "r1")
UPDATES = ("alternating", "simultaneous")
G_OBJECTIVES = ("loss", "feature_matching")


class UnconstrainedWGANWarning(UserWarning):
    """loss wgan trained without any Lipschitz constraint on the discriminator."""


def _has_spectral_norm(discriminator):
    from ganzoo.layers import SpectralNormalization

    return any(isinstance(layer, SpectralNormalization)
               for layer in discriminator._flatten_layers(include_self=False))


# keras.Model.fit's arguments after self, to find steps_per_epoch when given by position.
_FIT_ARGUMENTS = [name for name in inspect.signature(keras.Model.fit).parameters][1:]


def _fit_argument(name, args, kwargs):
    """The value of keras.Model.fit's argument `name` in fit(x, y, *args, **kwargs)."""
    if name in kwargs:
        return kwargs[name]
    position = _FIT_ARGUMENTS.index(name) - 2  # after x and y
    return args[position] if 0 <= position < len(args) else None


def _unbounded(data):
    """Why fit() cannot know where an epoch of `data` ends (a sentence), or None when it can."""
    if "tensorflow" in type(data).__module__ and hasattr(data, "cardinality"):
        import tensorflow as tf

        try:
            cardinality = int(data.cardinality())
        except (TypeError, ValueError, tf.errors.OpError):
            return None
        if cardinality == int(tf.data.INFINITE_CARDINALITY):
            return (
                "This dataset never ends (ganzoo.data.make_dataset repeats its epochs forever), "
                "so fit() would never return"
            )
        if cardinality == int(tf.data.UNKNOWN_CARDINALITY):
            return (
                "This tf.data dataset does not say how many batches it holds (unknown "
                "cardinality, e.g. after filter() or from_generator()): fit() would run until it "
                "runs out, forever if it repeats (a dataset that does end can declare its length "
                "with dataset.apply(tf.data.experimental.assert_cardinality(num_batches)))"
            )
        return None
    if isinstance(data, keras.utils.PyDataset):
        try:
            endless = data.num_batches is None
        except NotImplementedError:  # Keras itself asks for num_batches
            return None
        if endless:
            return "This PyDataset declares itself infinite (num_batches is None), so fit() would never return"
        return None
    if inspect.isgenerator(data) or (
        hasattr(data, "__next__") and hasattr(data, "__iter__") and not hasattr(data, "shape")
    ):
        return (
            "fit() cannot tell where a Python generator or iterator ends: it would run until the "
            "generator stops, forever if it never does"
        )
    return None


def _first_images(x, batch_size):
    """The first fit batch's images, as NumPy, of array input (NumPy, a tensor, or a dict with
    'images'); None for datasets and generators (their values are checked nowhere before the
    compiled step: ganzoo.data.make_dataset yields [0, 1] by construction)."""
    if isinstance(x, dict):
        x = x.get("images")
    if x is None or isinstance(x, (list, tuple)) or not all(
        hasattr(x, attribute) for attribute in ("shape", "dtype", "__getitem__")
    ):
        return None
    if len(x.shape) == 0:
        return None
    return np.asarray(x[: int(batch_size or 32)])  # Keras' default batch size


def _check_first_images(images):
    """Refuse a first batch that is not float in [0, 1] (what the generator outputs and
    ganzoo.data.make_dataset yields), naming the conversion that fixes it."""
    check_training_dtype(images.dtype)
    if images.size == 0:
        return  # the shape check of the step says what is wrong
    values = images.astype("float32")
    what = "GAN.fit: the training images (first batch)"
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{what} contain NaN or infinite values: clean the data before training.")
    low, high = float(values.min()), float(values.max())
    if low >= 0.0 and high <= 1.0 + 1e-6:
        return
    if low >= 0.0 and high > 1.5:
        hint = ("they look like 0..255 pixel values in a float array: divide by 255, "
                "images / 255.0")
    elif low >= -1.0 - 1e-6 and high <= 1.0 + 1e-6:
        hint = "they look like [-1, 1] images: map them with (images + 1) / 2"
    else:
        hint = "rescale them into [0, 1] (small overshoots: np.clip(images, 0, 1))"
    raise ValueError(
        f"{what} have values in [{low:.4g}, {high:.4g}], but GANs here train on float images "
        f"in [0, 1], the range of the generator's outputs; {hint}. "
        "ganzoo.data.make_dataset(...) yields [0, 1] images."
    )


def check_jacobian_clamping(bounds):
    """None (off) or (lambda_min, lambda_max) with None for no bound on a side; returns a tuple of
    floats and Nones, or None."""
    if bounds is None:
        return None
    try:
        low, high = bounds
    except (TypeError, ValueError):
        raise ValueError(f"jacobian_clamping must be None or a pair (lambda_min, lambda_max), e.g. (1, 20) "
                         f"as Odena et al.; got {bounds!r}.") from None
    low = None if low is None else float(low)
    high = None if high is None else float(high)
    if low is None and high is None:
        return None
    if (low is not None and not low >= 0) or (high is not None and not high > 0) or (
            low is not None and high is not None and not low < high):
        raise ValueError(f"jacobian_clamping needs 0 <= lambda_min < lambda_max (Odena et al.: 1 and 20); "
                         f"got ({low}, {high}).")
    return (low, high)


def _check_unrolling(steps, d_optimizer):
    """(unrolled_steps, the look-ahead's SGD rate): D's learning rate, read once here, so a
    learning-rate schedule is refused."""
    if isinstance(steps, bool) or int(steps) != steps or int(steps) < 0:
        raise ValueError(f"unrolled_steps must be a whole number >= 0 (0: off; Metz et al.: 5 to 10); "
                         f"got {steps!r}.")
    if not steps:
        return 0, None
    rate = getattr(d_optimizer, "_learning_rate", None)
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule) or callable(rate):
        raise ValueError("unrolled_steps needs D's learning rate as a number (the look-ahead's SGD "
                         "steps use it); this d_optimizer has a learning-rate schedule.")
    return int(steps), float(ops.convert_to_numpy(d_optimizer.learning_rate))


def _labels(labels):
    """The labels keyword of a conditional network's call; nothing for an unconditional one."""
    return {} if labels is None else {"labels": labels}


def _check_fit_labels(x, y, num_classes):
    """Refuse array labels that are not integer classes in 0 .. num_classes - 1 (before training:
    inside the compiled step an out-of-range class would silently condition on nothing)."""
    if y is None and isinstance(x, dict):
        y = x.get("labels")
    if y is None or not all(hasattr(y, attribute) for attribute in ("shape", "dtype")):
        return  # datasets: checked by dtype and shape in the step (_batch_labels)
    labels = np.asarray(y)
    if not np.issubdtype(labels.dtype, np.integer) or labels.dtype == bool:
        raise ValueError(f"GAN.fit: the labels must be integer class indices 0 .. {num_classes - 1}; got dtype "
                         f"{labels.dtype} (one-hot rows: labels.argmax(axis=1)).")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels[(labels < 0) | (labels >= num_classes)].ravel()[0]
        raise ValueError(f"GAN.fit: label {int(bad)} is out of range: this GAN has {num_classes} classes "
                         f"(0 .. {num_classes - 1}). Build it with the data's number of classes.")


@keras.saving.register_keras_serializable(package="ganzoo")
class GAN(keras.Model):
    """A generator and a discriminator trained with the GAN Landscape's semantics.

    Args:
        generator: a ganzoo Generator (or any keras.Model mapping (N, z_dim) to images in [0, 1]
            with a `z_dim` attribute).
        discriminator: a keras.Model mapping images to logits of shape (N, 1).
        ema_decay: if set, an exponential moving average of G's weights is kept in
            `ema_generator` (used by `generate`); None disables it.
        ema_start_step: before this discriminator step the average just copies G.
        seed: seed of the training noise (z, penalty interpolation): drawn with ganzoo.random,
            so the same seed gives the same noise on TensorFlow and JAX. None: a random seed.
    """

    def __init__(self, generator, discriminator, ema_decay=None, ema_start_step=0, seed=None, **kwargs):
        kwargs.setdefault("name", "gan")
        super().__init__(**kwargs)
        if not hasattr(generator, "z_dim"):
            raise ValueError("The generator needs a `z_dim` attribute (ganzoo generators have one).")
        if ema_decay is not None and not 0.0 < float(ema_decay) < 1.0:
            raise ValueError(f"ema_decay must be in (0, 1) or None; got {ema_decay}.")
        self.generator = generator
        self.discriminator = discriminator
        # Class-conditional (0: not): G and D must agree; training reads the batches' labels.
        self.num_classes = int(getattr(generator, "num_classes", 0) or 0)
        if int(getattr(discriminator, "num_classes", 0) or 0) != self.num_classes:
            raise ValueError(
                f"The generator has num_classes {self.num_classes} and the discriminator "
                f"{getattr(discriminator, 'num_classes', 0)}: build both with the same num_classes.")
        self.ema_decay = None if ema_decay is None else float(ema_decay)
        self.ema_start_step = int(ema_start_step)
        self.seed = seed
        self.ema_generator = None
        if self.ema_decay is not None:
            config = dict(generator.get_config(), name="ema_generator")
            ema = generator.__class__.from_config(config)
            ema.trainable = False
            ema.set_weights(generator.get_weights())
            self.ema_generator = ema
        # (seed, counter) of the training noise; a variable so that it travels with fit()'s
        # state and checkpoints.
        self.noise_state = keras.Variable(
            noise_random.initial_state(seed), dtype="int32", trainable=False, name="noise_state"
        )
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.penalty_tracker = keras.metrics.Mean(name="penalty")
        self._state_layout = None
        self.built = True  # call() takes z, not an image batch: nothing left to build

    # ----------------------------------------------------------------------------- inference
    @property
    def z_dim(self):
        return self.generator.z_dim

    def call(self, z, training=False, labels=None):
        return self.generator(z, training=training, **_labels(labels))

    def generate(self, num, seed=None, batch_size=256, z=None, truncation=None, labels=None):
        """`num` images (numpy float32 in [0, 1]); from the EMA generator when there is one.

        num and batch_size: positive integers; seed: None or a non-negative integer (2.5,
        "3", -1 or None for num are refused, never rounded). truncation: the truncation trick
        (see Generator.sample); None is the paper's sampling. labels (conditional models): one
        class index or one per image; None draws the classes uniformly from the seed.
        """
        num, seed, batch_size = check_sample_args(num, seed, batch_size, "generate")
        return (self.ema_generator or self.generator).sample(num, seed=seed, batch_size=batch_size, z=z,
                                                             truncation=truncation, labels=labels)

    # ------------------------------------------------------------------------------- compile
    def compile(
        self,
        g_optimizer=None,
        d_optimizer=None,
        loss="ns",
        penalty="none",
        penalty_weight=None,
        disc_iters=1,
        resample_generator_z=False,
        real_label_smoothing=0.0,
        fake_label_smoothing=0.0,
        d_weight_clip=None,
        updates="alternating",
        g_objective="loss",
        orthogonal_reg=0.0,
        jacobian_clamping=None,
        unrolled_steps=0,
        **kwargs,
    ):
        """Configure training.

        Args:
            g_optimizer, d_optimizer: the two optimizers (default: the paper's Adam, lr 2e-4,
                betas 0.5/0.999, epsilon 1e-8). They must be distinct instances.
            loss: ns, minimax, wgan, ls, ls_raw or hinge (see ganzoo.losses).
            penalty: none, wgan_gp, dragan, r1 or l2 (see ganzoo.penalties).
            penalty_weight: lambda (gamma for r1); required with a penalty.
            disc_iters: discriminator updates per generator update.
            resample_generator_z: draw a fresh z for the generator update. False (the paper's
                compare_gan): G reuses the z of the discriminator update it follows.
            real_label_smoothing, fake_label_smoothing: D's targets become 1 - real_label_smoothing
                and fake_label_smoothing (ns and minimax only; 0: off, the paper's step).
            d_weight_clip: clip every discriminator weight to [-c, c] after each D update
                (plain WGAN, Arjovsky et al.); None: off. loss wgan with no spectral norm, no
                gradient penalty and no clipping warns (UnconstrainedWGANWarning).
            updates: "alternating" (the paper's: G's gradient at D's weights after D update 0)
                or "simultaneous" (G's gradient at D's weights before it, the same weights D's
                gradient was taken at).
            g_objective: "loss" (the GAN loss's generator term) or "feature_matching" (Salimans
                et al.: ||mean f(real) - mean f(fake)||^2 of the features entering D's last layer).
            orthogonal_reg: beta of BigGAN's orthogonal regularisation of G's kernels; 0: off.
            jacobian_clamping: (lambda_min, lambda_max) of Odena et al.'s Jacobian clamping (either
                may be None: no bound on that side); None: off. See `_jacobian_clamping`.
            unrolled_steps: k of Metz et al.'s unrolled GAN: G's loss is taken against D advanced
                by k look-ahead SGD steps at d_optimizer's learning rate, differentiated through;
                0: off. See `_unrolled_discriminator`.
            **kwargs: passed to keras.Model.compile (steps_per_execution, jit_compile, ...).
        """
        for unsupported in ("optimizer", "metrics", "loss_weights", "weighted_metrics"):
            if kwargs.get(unsupported) is not None:
                raise ValueError(
                    f"GAN.compile does not take {unsupported!r}: pass g_optimizer and "
                    "d_optimizer, a loss name and a penalty name instead."
                )
            kwargs.pop(unsupported, None)
        self.real_label_smoothing = float(real_label_smoothing)
        self.fake_label_smoothing = float(fake_label_smoothing)
        self.gan_loss = with_label_smoothing(loss, self.real_label_smoothing, self.fake_label_smoothing)
        self.penalty_name = penalty_name(penalty)
        self.penalty_fn = get_penalty(penalty)
        self.penalty_weight = penalty_weight_for(self.penalty_name, penalty_weight)
        if int(disc_iters) != disc_iters or int(disc_iters) < 1:
            raise ValueError(f"disc_iters must be a positive integer; got {disc_iters}.")
        self.disc_iters = int(disc_iters)
        self.resample_generator_z = bool(resample_generator_z)
        if updates not in UPDATES:
            raise ValueError(f"updates must be one of {', '.join(UPDATES)}; got {updates!r}.")
        self.updates = updates
        if d_weight_clip is not None and not float(d_weight_clip) > 0:
            raise ValueError(f"d_weight_clip must be above 0 or None; got {d_weight_clip}.")
        self.d_weight_clip = None if d_weight_clip is None else float(d_weight_clip)
        if (self.gan_loss.name == "wgan" and self.d_weight_clip is None
                and self.penalty_name not in GRADIENT_PENALTIES
                and not _has_spectral_norm(self.discriminator)):
            warnings.warn(
                "loss wgan is trained with no Lipschitz constraint on the discriminator (no "
                "spectral normalization, no gradient penalty, no weight clipping): the critic's "
                "outputs can grow without bound and training diverges. Add one: normalization "
                "spectral, penalty wgan_gp with penalty_weight 10 (WGAN-GP), or d_weight_clip 0.01 "
                "(plain WGAN).", UnconstrainedWGANWarning, stacklevel=2)
        if g_objective not in G_OBJECTIVES:
            raise ValueError(f"g_objective must be one of {', '.join(G_OBJECTIVES)}; got {g_objective!r}.")
        if g_objective == "feature_matching" and not hasattr(self.discriminator, "head"):
            raise ValueError("g_objective feature_matching needs D's features: use a ganzoo Discriminator "
                             "(its call(x, return_features=True) returns (logits, features)).")
        self.g_objective = g_objective
        if not float(orthogonal_reg) >= 0:
            raise ValueError(f"orthogonal_reg must be >= 0 (0: off); got {orthogonal_reg}.")
        self.orthogonal_reg = float(orthogonal_reg)
        self.jacobian_clamping = check_jacobian_clamping(jacobian_clamping)
        g_optimizer = paper_adam() if g_optimizer is None else g_optimizer
        d_optimizer = paper_adam() if d_optimizer is None else d_optimizer
        self.unrolled_steps, self.unrolled_lr = _check_unrolling(unrolled_steps, d_optimizer)
        optimizer = GANOptimizer(g_optimizer, d_optimizer)
        optimizer.attach(self)
        self._state_layout = None
        super().compile(optimizer=optimizer, **kwargs)
        optimizer.build()
        self._gan_compile_config = {
            "g_optimizer": keras.optimizers.serialize(optimizer.generator_optimizer),
            "d_optimizer": keras.optimizers.serialize(optimizer.discriminator_optimizer),
            "loss": self.gan_loss.name,
            "penalty": self.penalty_name,
            "penalty_weight": self.penalty_weight,
            "disc_iters": self.disc_iters,
            "resample_generator_z": self.resample_generator_z,
            "real_label_smoothing": self.real_label_smoothing,
            "fake_label_smoothing": self.fake_label_smoothing,
            "d_weight_clip": self.d_weight_clip,
            "updates": self.updates,
            "g_objective": self.g_objective,
            "orthogonal_reg": self.orthogonal_reg,
            "jacobian_clamping": self.jacobian_clamping,
            "unrolled_steps": self.unrolled_steps,
            "steps_per_execution": kwargs.get("steps_per_execution", 1),
        }

    def get_compile_config(self):
        return getattr(self, "_gan_compile_config", None)

    def compile_from_config(self, config):
        config = dict(config)
        for key in ("g_optimizer", "d_optimizer"):
            config[key] = keras.optimizers.deserialize(config[key])
        self.compile(**config)

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker, self.penalty_tracker]

    @property
    def generator_optimizer(self):
        return self.optimizer.generator_optimizer

    @property
    def discriminator_optimizer(self):
        return self.optimizer.discriminator_optimizer

    @property
    def d_steps(self):
        """Discriminator steps taken: the paper's step count."""
        return int(ops.convert_to_numpy(self.discriminator_optimizer.iterations))

    @property
    def g_steps(self):
        return int(ops.convert_to_numpy(self.generator_optimizer.iterations))

    @property
    def state_layout(self):
        """Where each named value of the step sits (ganzoo.backend.state.StateLayout)."""
        if self._state_layout is None:
            self._state_layout = backend.StateLayout(self)
        return self._state_layout

    # ---------------------------------------------------------------------------- train step
    # The backend's Keras train_step (JAX: train_step(state, data) on fit()'s jitted state;
    # TensorFlow: train_step(data) on the variables); both run train_step_values below.
    train_step = backend.train_step

    def fit(self, x=None, y=None, *args, **kwargs):
        """keras.Model.fit, refusing input that would train forever or on the wrong range.

        Without steps_per_epoch, an endless dataset (ganzoo.data.make_dataset's), a tf.data
        dataset of unknown length, a Python generator or an infinite PyDataset would make fit()
        run forever without a word: that is refused. Array input (NumPy or tensors) has its
        first batch checked to be float images in [0, 1] (once, before training: free per step).
        """
        if _fit_argument("steps_per_epoch", args, kwargs) is None:
            reason = _unbounded(x)
            if reason:
                raise ValueError(
                    f"{reason}: pass steps_per_epoch, the fit steps per epoch (each makes "
                    "disc_iters discriminator steps), e.g. gan.fit(dataset, steps_per_epoch=1000)."
                )
        first = _first_images(x, _fit_argument("batch_size", args, kwargs))
        if first is not None and getattr(self.discriminator, "sample_shape", None) is None:  # images
            _check_first_images(first)
        if self.num_classes:
            _check_fit_labels(x, y, self.num_classes)
        return super().fit(x, y, *args, **kwargs)

    def test_step(self, *args, **kwargs):
        raise NotImplementedError(
            "GAN has no evaluate(): measure samples with ganzoo.metrics (FID, KID, ...) instead."
        )

    def _discriminator_objective(self, d_params, d_buffers, g_params, g_buffers, real, z, noise_state,
                                 real_labels=None, fake_labels=None):
        layout = self.state_layout
        noise = noise_random.NoiseStream(noise_state, backend.replica_id())
        fake, new_g_buffers = self.generator.stateless_call(g_params, g_buffers, z, training=True,
                                                            **_labels(fake_labels))
        fake = ops.stop_gradient(fake)
        # compare_gan's real, fake and penalty D calls each start from the stored spectral-norm
        # u (each computes the same one power iteration); batch-norm statistics chain.
        real_logits, after_real = self.discriminator.stateless_call(d_params, d_buffers, real, training=True,
                                                                    **_labels(real_labels))
        fake_buffers = layout.restart_power_iteration(after_real, d_buffers)
        fake_logits, after_fake = self.discriminator.stateless_call(d_params, fake_buffers, fake, training=True,
                                                                    **_labels(fake_labels))
        penalty_buffers = layout.restart_power_iteration(after_fake, d_buffers)
        loss = self.gan_loss.discriminator(real_logits, fake_logits)
        # A conditional D's penalty points take the real labels (compare_gan's choice for WGAN-GP's
        # interpolates; R1 and DRAGAN look at real images only).
        penalty = self.penalty_fn(
            lambda x: self.discriminator.stateless_call(d_params, penalty_buffers, x, training=True,
                                                        **_labels(real_labels))[0],
            real,
            fake,
            [d_params[i] for i in layout.d_kernels],
            noise.uniform,
        )
        total = loss + self.penalty_weight * penalty
        new_d_buffers = layout.restart_power_iteration(after_fake, after_real)
        return total, (penalty, new_d_buffers, new_g_buffers, noise.state)

    def _generator_objective(self, g_params, g_buffers, d_params, d_buffers, z, real, labels=None,
                             perturbation=None, real_labels=None):
        fake, new_g_buffers = self.generator.stateless_call(g_params, g_buffers, z, training=True,
                                                            **_labels(labels))
        clamping = 0.0
        if perturbation is not None:
            clamping = self._jacobian_clamping(g_params, g_buffers, z, fake, perturbation, labels)
        step_d_buffers = None
        if self.unrolled_steps:
            d_params, step_d_buffers = self._unrolled_discriminator(d_params, d_buffers, real, fake, labels,
                                                                    real_labels)
        if self.g_objective == "feature_matching":
            loss, new_d_buffers = self._feature_matching(d_params, d_buffers, real, fake, labels)
        else:
            fake_logits, new_d_buffers = self.discriminator.stateless_call(d_params, d_buffers, fake,
                                                                           training=True, **_labels(labels))
            loss = self.gan_loss.generator(fake_logits)
        if self.orthogonal_reg:
            from ganzoo.regularizers import model_orthogonal_regularization

            loss = loss + self.orthogonal_reg * model_orthogonal_regularization(self.generator, g_params)
        if step_d_buffers is not None:  # the look-ahead D's buffers are discarded with it
            new_d_buffers = step_d_buffers
        return loss + clamping, (new_g_buffers, new_d_buffers)

    def _unrolled_discriminator(self, d_params, d_buffers, real, fake, labels=None, real_labels=None):
        """Metz et al. 2017 (Unrolled Generative Adversarial Networks): D's parameters
        after `unrolled_steps` look-ahead steps on this batch, as a differentiable function of the
        fake batch, so that G's gradient flows through every step (second order).

        Each step is plain SGD, theta <- theta - d_lr * d L_D / d theta, with L_D the GAN loss of
        D's update (label smoothing included) on the current real batch and this G(z), the fake
        NOT stop-gradiented. Metz et al. unrolled D's Adam; SGD is what most reimplementations
        use: it needs no moment state in G's objective and no derivative of Adam's division by
        its second moment (ill-conditioned where gradients are small). The
        look-ahead uses the GAN loss only (no gradient penalty: that would make G's gradient
        third order and draw noise); with d_weight_clip each step is clipped as D's are.

        Every look-ahead call of D starts from the stored buffers (spectral-norm u, batch-norm
        statistics), and the look-ahead is discarded after G's loss. Returns (look-ahead params,
        D's buffers after the first step's fake call): that call is the call of D on the fake
        batch at D's own weights that the step without unrolling makes, so D's buffers (and D's
        own update) are as they would be without unrolling."""
        grad = backend.grad(self._lookahead_loss)
        params, step_d_buffers = list(d_params), None
        for _ in range(self.unrolled_steps):
            grads, after_fake = grad(params, d_buffers, real, fake, labels, real_labels)
            step_d_buffers = after_fake if step_d_buffers is None else step_d_buffers
            params = [p - self.unrolled_lr * g for p, g in zip(params, grads)]
            if self.d_weight_clip is not None:
                params = [ops.clip(p, -self.d_weight_clip, self.d_weight_clip) for p in params]
        return params, step_d_buffers

    def _lookahead_loss(self, d_params, d_buffers, real, fake, labels=None, real_labels=None):
        """D's GAN loss for the unrolled look-ahead, with the buffers after the fake call."""
        fake_logits, after_fake = self.discriminator.stateless_call(d_params, d_buffers, fake, training=True,
                                                                    **_labels(labels))
        real_logits, _ = self.discriminator.stateless_call(d_params, d_buffers, real, training=True,
                                                           **_labels(real_labels))
        return self.gan_loss.discriminator(real_logits, fake_logits), after_fake

    def _jacobian_clamping(self, g_params, g_buffers, z, fake, perturbation, labels=None):
        """Odena et al. 2018, Algorithm 1: Q = ||G(z) - G(z + delta)|| / ||delta|| per sample
        (delta: a random direction of length epsilon = 1), then mean (max(Q, l_max) - l_max)^2 +
        (min(Q, l_min) - l_min)^2, which keeps G's Jacobian's gain along random directions within
        [l_min, l_max]. G(z + delta) is its own training-mode call whose batch-norm updates are
        dropped, so the GAN term sees exactly the step it would without clamping."""
        low, high = self.jacobian_clamping
        moved, _ = self.generator.stateless_call(g_params, g_buffers, z + perturbation, training=True,
                                                 **_labels(labels))
        axes = tuple(range(1, len(fake.shape)))
        q = ops.sqrt(ops.sum(ops.square(fake - moved), axis=axes) + 1e-12) / ops.sqrt(
            ops.sum(ops.square(perturbation), axis=-1))
        penalty = ops.zeros_like(q)
        if high is not None:
            penalty = penalty + ops.square(ops.maximum(q, high) - high)
        if low is not None:
            penalty = penalty + ops.square(ops.minimum(q, low) - low)
        return ops.mean(penalty)

    def _feature_matching(self, d_params, d_buffers, real, fake, labels=None):
        """||E f(real) - E f(fake)||^2 over the batch, f: the features entering D's last layer
        (Salimans et al. 2016, Sec. 3.1). The real call's buffer updates are dropped (it is a
        target, like the logits of D's own real call in the D step). A conditional D is called
        with the fake classes both times: f comes before the class projection, so they do not
        change it."""
        (_, real_features), _ = self.discriminator.stateless_call(
            d_params, d_buffers, real, training=True, return_features=True, **_labels(labels))
        (_, fake_features), new_d_buffers = self.discriminator.stateless_call(
            d_params, d_buffers, fake, training=True, return_features=True, **_labels(labels))
        difference = ops.mean(ops.stop_gradient(real_features), axis=0) - ops.mean(fake_features, axis=0)
        return ops.sum(ops.square(difference)), new_d_buffers

    def _noise_count(self):
        """How many z batches one fit step uses: one per D update, plus G's when resampled."""
        return self.disc_iters + int(self.resample_generator_z)

    def _batch_labels(self, data, num):
        """A conditional GAN's real labels: int32 (N,), from fit()'s y (or a dict batch's
        'labels'). Their dtype and shape are checked here (static, free in the compiled step);
        their range where the data is concrete (GAN.fit's first batch of arrays, _check_fit_labels)."""
        images, labels, _ = keras.utils.unpack_x_y_sample_weight(data)
        if labels is None and isinstance(images, dict):
            labels = images.get("labels")
        if labels is None:
            raise ValueError(
                f"This GAN is class-conditional (num_classes {self.num_classes}) and its training batches "
                "carry no labels: feed (images, labels) -- gan.fit(images, labels, ...) or a dataset of "
                "(images, labels) pairs (ganzoo.data.make_dataset with labels=True on labelled data) -- "
                "or build it with num_classes=0.")
        dtype = keras.backend.standardize_dtype(labels.dtype)
        if "int" not in dtype:
            raise ValueError(f"Training labels must be integer class indices 0 .. {self.num_classes - 1}; got "
                             f"dtype {dtype} (one-hot rows: labels.argmax(axis=1)).")
        shape = tuple(labels.shape)
        if shape not in ((num,), (num, 1)):
            raise ValueError(f"Training labels must have shape ({num},), one class per image; got {shape}.")
        return ops.reshape(ops.cast(labels, "int32"), (num,))

    def _unpack_batch(self, data):
        """Images (N, H, W, 3) and optional fixed noise (see `_noise_count`, N / disc_iters, z_dim)."""
        images, _, _ = keras.utils.unpack_x_y_sample_weight(data)  # labels are not used
        noise = None
        if isinstance(images, dict):
            if "images" not in images:
                raise ValueError("A dict batch needs an 'images' entry (and optionally 'z').")
            images, noise = images["images"], images.get("z")
        # The dtype is static, so this check is free inside the compiled step. The value range
        # is not (a reduction over the batch, and a jitted JAX step cannot raise on values): it
        # belongs where the data is concrete -- ganzoo.data.make_dataset yields [0, 1] by
        # construction, and GAN.fit checks the first batch of array input (_check_first_images).
        check_training_dtype(keras.backend.standardize_dtype(images.dtype))
        # floatx: float32 normally (also under a mixed policy); float64 when a user (or the
        # float64 reference test) sets it, where TensorFlow refuses float32 - float64 arithmetic.
        images = ops.cast(images, keras.config.floatx())
        shape = tuple(images.shape)
        resolution = getattr(self.discriminator, "resolution", None)
        expected = (resolution, resolution, 3) if resolution else tuple(shape[1:])
        point_shape = getattr(self.discriminator, "sample_shape", None)  # non-image D (mlp2d)
        if point_shape is not None and tuple(shape[1:]) != tuple(point_shape):
            raise ValueError(f"Training batches for this discriminator must have shape (N, "
                             f"{', '.join(map(str, point_shape))}); got {shape}.")
        if point_shape is None and (len(shape) != 4 or tuple(shape[1:]) != expected):
            raise ValueError(
                f"Training batches must be images of shape (N, {expected[0]}, {expected[1]}, "
                f"{expected[2]}) in [0, 1]; got {shape}. Resize the data or build the model "
                "for this resolution."
            )
        if shape[0] is None:
            # (TensorFlow traces fit()'s step for the data's batch shape; JAX sees real arrays.)
            raise ValueError(
                "The training batches have no fixed size (batch dimension None): the step splits "
                "each batch into disc_iters discriminator batches and needs its size. Batch a "
                "tf.data dataset with drop_remainder=True (ganzoo.data.make_dataset does); give "
                "NumPy arrays whose length is a multiple of batch_size (a smaller last batch "
                "leaves the size open); a Python generator has no fixed batch size on TensorFlow: "
                "wrap it with tf.data.Dataset.from_generator(..., output_signature="
                "tf.TensorSpec((batch, H, W, 3), tf.float32))."
            )
        if shape[0] % self.disc_iters:
            raise ValueError(
                f"A batch of {shape[0]} images cannot be split into disc_iters={self.disc_iters} "
                f"discriminator batches: feed batches of disc_iters * batch_size images."
            )
        if noise is not None:
            noise = ops.cast(noise, keras.config.floatx())
            want = (self._noise_count(), shape[0] // self.disc_iters, self.z_dim)
            if tuple(noise.shape) != want:
                raise ValueError(
                    f"'z' must have shape {want}: one z per discriminator update"
                    + (" and one for the generator update" if self.resample_generator_z else "")
                    + f"; got {tuple(noise.shape)}."
                )
        return images, noise

    def train_step_values(self, values, data):
        """The backend-neutral step on named lists of values; returns (new values, logs).

        Order (compare_gan v2): D update 0, the G update (with D update 0's z unless
        resample_generator_z), then D updates 1 .. disc_iters - 1.
        """
        images, fixed_z = self._unpack_batch(data)
        real_labels = self._batch_labels(data, images.shape[0]) if self.num_classes else None
        per_step = images.shape[0] // self.disc_iters
        values = dict(values)
        d_losses, penalties = [], []
        d_grad = backend.value_and_grad(self._discriminator_objective)
        g_grad = backend.value_and_grad(self._generator_objective)

        def draw_z(index):
            if fixed_z is not None:
                return fixed_z[index]
            noise = noise_random.NoiseStream(values["noise"], backend.replica_id())
            z = noise.uniform((per_step, self.z_dim), -1.0, 1.0)
            values["noise"] = noise.state
            return z

        def draw_labels():
            """Classes of the fake images, uniform (after z, so an unconditional step's noise is
            unchanged); floor(K * u) with u < 1 in float32, clipped for safety."""
            if not self.num_classes:
                return None
            noise = noise_random.NoiseStream(values["noise"], backend.replica_id())
            u = noise.uniform((per_step,), 0.0, float(self.num_classes))
            values["noise"] = noise.state
            return ops.minimum(ops.cast(ops.floor(u), "int32"), self.num_classes - 1)

        def draw_direction():
            """Jacobian clamping's delta: a unit direction per z (after z and the classes, so the
            noise of a step without clamping is unchanged)."""
            noise = noise_random.NoiseStream(values["noise"], backend.replica_id())
            direction = noise.direction((per_step, self.z_dim))
            values["noise"] = noise.state
            return direction

        def real_slice(i):
            return None if real_labels is None else real_labels[i * per_step : (i + 1) * per_step]

        for i in range(self.disc_iters):
            real = images[i * per_step : (i + 1) * per_step]
            z = draw_z(i)
            fake_labels = draw_labels()
            d_before = (values["d_params"], values["d_buffers"])
            (d_loss, aux), grads = d_grad(
                values["d_params"], values["d_buffers"], values["g_params"], values["g_buffers"],
                real, z, values["noise"], *((real_slice(i), fake_labels) if self.num_classes else ()),
            )
            penalty, values["d_buffers"], values["g_buffers"], values["noise"] = aux
            values["d_params"], values["d_opt"] = backend.apply_gradients(
                self.discriminator_optimizer, grads, self.discriminator.trainable_variables,
                values["d_params"], values["d_opt"],
            )
            if self.d_weight_clip is not None:
                c = self.d_weight_clip
                values["d_params"] = backend.assign_values(
                    self.discriminator.trainable_variables, [ops.clip(p, -c, c) for p in values["d_params"]]
                )
            d_losses.append(d_loss)
            penalties.append(penalty)
            if i == 0:
                g_z = draw_z(self.disc_iters) if self.resample_generator_z else z
                # G's classes go with its z: D update 0's unless z is drawn afresh
                g_labels = (draw_labels() if self.resample_generator_z else fake_labels) if self.num_classes else None
                perturbation = draw_direction() if self.jacobian_clamping is not None else None
                # (the unrolled look-ahead's D loss sees the real batch with its classes)
                g_real_labels = real_slice(i) if self.unrolled_steps else None
                if self.updates == "alternating":
                    (g_loss, (values["g_buffers"], values["d_buffers"])), grads = g_grad(
                        values["g_params"], values["g_buffers"], values["d_params"], values["d_buffers"], g_z,
                        real, g_labels, perturbation, g_real_labels,
                    )
                else:  # simultaneous: D's weights (and u) as they were before its update
                    (g_loss, (values["g_buffers"], _)), grads = g_grad(
                        values["g_params"], values["g_buffers"], d_before[0], d_before[1], g_z, real,
                        g_labels, perturbation, g_real_labels,
                    )
                values["g_params"], values["g_opt"] = backend.apply_gradients(
                    self.generator_optimizer, grads, self.generator.trainable_variables,
                    values["g_params"], values["g_opt"],
                )

        if self.ema_generator is not None:
            values["ema"] = self._ema_update(values)
        logs = {
            "d_loss": ops.mean(ops.stack(d_losses)),
            "g_loss": g_loss,
            "penalty": ops.mean(ops.stack(penalties)),
        }
        return values, logs

    def _ema_update(self, values):
        layout = self.state_layout
        step = backend.optimizer_iterations(self.discriminator_optimizer, values["d_opt"])
        decay = ops.where(ops.greater_equal(step, self.ema_start_step), self.ema_decay, 0.0)
        updated = []
        for average, (group, index) in zip(values["ema"], layout.ema_sources):
            current = values[group][index]
            if group == "g_params":
                updated.append(decay * average + (1.0 - decay) * current)
            else:  # batch-norm statistics are copied, not averaged
                updated.append(current)
        return updated

    # --------------------------------------------------------------------------- serialising
    def save_own_variables(self, store):
        # The noise state belongs to the training state: a restored GAN draws the same z as
        # the one it was saved from.
        store["noise_state"] = ops.convert_to_numpy(self.noise_state)

    def load_own_variables(self, store):
        # Files from before ganzoo.random (a "noise_seed" key, or none) keep this GAN's stream.
        if "noise_state" in store:
            self.noise_state.assign(np.asarray(store["noise_state"], dtype="int32"))

    def get_config(self):
        return {
            "name": self.name,
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "ema_decay": self.ema_decay,
            "ema_start_step": self.ema_start_step,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("generator", "discriminator"):
            config[key] = keras.saving.deserialize_keras_object(config[key], custom_objects=custom_objects)
        return cls(**config)


def build_gan(recipe=None, *, seed=None, **settings):
    """A compiled GAN from a recipe: the paper's hyper-parameters (Adam with epsilon 1e-8).

    `recipe` is a ganzoo.recipe.Recipe, a dict of its fields (a manifest `training` object, a
    checkpoint's "hyper"), or an architecture name; keyword arguments that are Recipe fields
    (architecture, resolution, normalization, z_dim, num_classes, class_embedding, loss, penalty,
    penalty_weight,
    real_label_smoothing, fake_label_smoothing, disc_iters, g_lr, d_lr, beta1, beta2,
    updates, d_weight_clip, batch_size, steps, ema_decay, ema_start_step, minibatch_stddev,
    minibatch_discrimination, weight_init, self_attention, g_objective, orthogonal_reg, jacobian_clamp_min,
    jacobian_clamp_max, unrolled_steps) override it, and the
    rest go to GAN.compile (resample_generator_z, steps_per_execution, jit_compile, ...).
    batch_size and steps belong to the schedule: they are checked, and the caller trains with them.

        build_gan("sndcgan", loss="hinge", penalty="wgan_gp", penalty_weight=10.0, seed=0)
        build_gan(Recipe.from_dict(manifest.training_config("sndcgan-ns-sn-cifar10")))
    """
    fields = {k: settings.pop(k) for k in list(settings) if k in Recipe.field_names()}
    if recipe is None or isinstance(recipe, str):
        if recipe is not None:
            if "architecture" in fields:
                raise TypeError("build_gan got the architecture twice (by position and by keyword).")
            fields["architecture"] = recipe
        recipe = Recipe(**fields)
    else:
        recipe = Recipe.from_dict(recipe)
        if fields:
            recipe = recipe.override(**fields)
    if recipe.resolution is None:  # the family's own size, recorded so the GAN knows its recipe
        recipe = recipe.override(resolution=ARCHITECTURES[recipe.architecture][2])
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
    generator = build_generator(recipe.architecture, resolution=recipe.resolution, z_dim=recipe.z_dim,
                                num_classes=recipe.num_classes, class_embedding=recipe.class_embedding,
                                self_attention=recipe.self_attention)
    discriminator = build_discriminator(recipe.architecture, resolution=recipe.resolution,
                                        normalization=recipe.normalization, num_classes=recipe.num_classes,
                                        minibatch_stddev=recipe.minibatch_stddev,
                                        minibatch_discrimination=recipe.minibatch_discrimination,
                                        **({"self_attention": recipe.self_attention} if recipe.self_attention else {}))
    if recipe.weight_init == "orthogonal":
        from ganzoo.regularizers import orthogonal_initialize

        orthogonal_initialize(generator)
        orthogonal_initialize(discriminator)
    gan = GAN(generator, discriminator, ema_decay=recipe.ema_decay, ema_start_step=recipe.ema_start_step,
              seed=seed)
    gan.compile(
        g_optimizer=paper_adam(recipe.g_lr, recipe.beta1, recipe.beta2),
        d_optimizer=paper_adam(recipe.d_lr, recipe.beta1, recipe.beta2),
        loss=recipe.loss,
        penalty=recipe.penalty,
        penalty_weight=recipe.penalty_weight,
        real_label_smoothing=recipe.real_label_smoothing,
        fake_label_smoothing=recipe.fake_label_smoothing,
        d_weight_clip=recipe.d_weight_clip,
        updates=recipe.updates,
        g_objective=recipe.g_objective,
        orthogonal_reg=recipe.orthogonal_reg,
        jacobian_clamping=recipe.jacobian_clamping,
        unrolled_steps=recipe.unrolled_steps,
        disc_iters=recipe.disc_iters,
        **settings,
    )
    gan.recipe = recipe
    return gan
