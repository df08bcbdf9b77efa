"""Both GAN optimizers in Keras' single optimizer slot.

Keras' JAX trainer threads only `model.optimizer.variables` through its jitted state, so a
second optimizer kept as a plain attribute would silently lose its updates. GANOptimizer holds
the generator's and the discriminator's optimizers and exposes their variables as one list.
"""
import weakref

import keras


def paper_adam(learning_rate=2e-4, beta1=0.5, beta2=0.999, name=None):
    """Adam as in the paper's TF1 code: epsilon 1e-8 (Keras' default is 1e-7)."""
    return keras.optimizers.Adam(
        learning_rate=learning_rate, beta_1=beta1, beta_2=beta2, epsilon=1e-8, name=name
    )


@keras.saving.register_keras_serializable(package="ganzoo")
class GANOptimizer(keras.optimizers.Optimizer):
    """Wraps `generator_optimizer` and `discriminator_optimizer`.

    `iterations` is the discriminator's: the paper counts discriminator steps. The two inner
    optimizers are saved under their own attribute names; this wrapper stores nothing itself.
    """

    def __init__(self, generator_optimizer, discriminator_optimizer, name="gan_optimizer", **kwargs):
        super().__init__(learning_rate=0.0, name=name, **kwargs)
        self.generator_optimizer = keras.optimizers.get(generator_optimizer)
        self.discriminator_optimizer = keras.optimizers.get(discriminator_optimizer)
        if self.generator_optimizer is self.discriminator_optimizer:
            raise ValueError(
                "The generator and the discriminator need two optimizer instances; the same "
                "one was given twice. Pass two separate optimizers."
            )
        self._gan = None

    def attach(self, gan):
        # A weak reference: a strong one makes load_model recurse through model <-> optimizer.
        self._gan = weakref.ref(gan)

    def build(self, variables=None):
        gan = self._gan() if self._gan is not None else None
        if gan is None:
            raise ValueError("GANOptimizer is built by GAN.compile(); attach it to a GAN first.")
        if not self.generator_optimizer.built:
            self.generator_optimizer.build(gan.generator.trainable_variables)
        if not self.discriminator_optimizer.built:
            self.discriminator_optimizer.build(gan.discriminator.trainable_variables)
        self.built = True

    @property
    def variables(self):
        return self.generator_optimizer.variables + self.discriminator_optimizer.variables

    @property
    def iterations(self):
        return self.discriminator_optimizer.iterations

    def save_own_variables(self, store):
        pass  # the inner optimizers save their own variables

    def load_own_variables(self, store):
        pass

    def apply(self, grads, trainable_variables=None):
        raise NotImplementedError(
            "GANOptimizer does not apply gradients itself: use its generator_optimizer and "
            "discriminator_optimizer (GAN.train_step does)."
        )

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        self.apply(grads)

    def get_config(self):
        return {
            "name": self.name,
            "generator_optimizer": keras.optimizers.serialize(self.generator_optimizer),
            "discriminator_optimizer": keras.optimizers.serialize(self.discriminator_optimizer),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("generator_optimizer", "discriminator_optimizer"):
            config[key] = keras.optimizers.deserialize(config[key], custom_objects=custom_objects)
        return cls(**config)
