"""The layout of a GAN's training state, shared by both backends' plumbing.

The backend-neutral step (GAN.train_step_values in ganzoo/gan.py) works on named lists of values:
g_params, d_params, g_buffers, d_buffers, ema, noise, g_opt, d_opt. `StateLayout` says where each
of them sits: in the GAN's variable lists (what jax.jit threads through fit(), see
ganzoo.backend.jax.unpack/pack) and inside the sub-models' lists (the discriminator's
spectral-norm u vectors and kernels, the EMA generator's sources). ganzoo.backend.tensorflow
reads and writes the variables themselves (read/write_buffers).
"""
from ganzoo.layers import SpectralNormalization


class StateLayout:
    """Where each sub-model's variables sit in the GAN's variable lists."""

    def __init__(self, gan):
        self.gan = gan
        trainable = {id(v): i for i, v in enumerate(gan.trainable_variables)}
        buffers = {id(v): i for i, v in enumerate(gan.non_trainable_variables)}
        g, d = gan.generator, gan.discriminator
        self.g_params = [trainable[id(v)] for v in g.trainable_variables]
        self.d_params = [trainable[id(v)] for v in d.trainable_variables]
        if len(self.g_params) + len(self.d_params) != len(trainable):
            raise ValueError(
                "The GAN has trainable variables outside its generator and discriminator; "
                "freeze them (trainable=False) or move them into a sub-model."
            )
        self.g_buffers = [buffers[id(v)] for v in g.non_trainable_variables]
        self.d_buffers = [buffers[id(v)] for v in d.non_trainable_variables]
        self.ema = [buffers[id(v)] for v in gan.ema_generator.variables] if gan.ema_generator else []
        self.noise = buffers[id(gan.noise_state)]
        self.n_g_opt = len(gan.optimizer.generator_optimizer.variables)
        # EMA sources: for each generator variable (in .variables order), where its value lives.
        self.ema_sources = []
        g_param_pos = {id(v): i for i, v in enumerate(g.trainable_variables)}
        g_buffer_pos = {id(v): i for i, v in enumerate(g.non_trainable_variables)}
        for v in g.variables:
            if id(v) in g_param_pos:
                self.ema_sources.append(("g_params", g_param_pos[id(v)]))
            else:
                self.ema_sources.append(("g_buffers", g_buffer_pos[id(v)]))
        self.d_kernels = [i for i, v in enumerate(d.trainable_variables) if v.name == "kernel"]
        # Spectral-norm u vectors of D, as positions in d_buffers (see restart_power_iteration).
        d_buffer_pos = {id(v): i for i, v in enumerate(d.non_trainable_variables)}
        self.d_sn_u = [
            d_buffer_pos[id(layer.u)]
            for layer in d._flatten_layers(include_self=False)
            if isinstance(layer, SpectralNormalization)
        ]

    def restart_power_iteration(self, d_buffers, source):
        """d_buffers with every spectral-norm u taken from `source` (other buffers kept)."""
        d_buffers = list(d_buffers)
        for i in self.d_sn_u:
            d_buffers[i] = source[i]
        return d_buffers
