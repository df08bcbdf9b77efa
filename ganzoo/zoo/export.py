"""The plain-Keras copy of a generator: a Functional model of Keras' built-in layers only.

ganzoo's generators are subclassed models; a `.keras` file of one needs ganzoo's classes to load.
`functional_generator(generator)` rebuilds the same computation from built-in layers (Dense,
BatchNormalization, Conv2D, Conv2DTranspose, Reshape, ZeroPadding3D, Add, Activation, Rescaling;
SAGAN's self-attention block also MaxPooling2D, Dot and Softmax) with the generator's weights, so

    model = keras.saving.load_model("generator.keras")     # no ganzoo needed
    images = model(z)                                      # z ~ U(-1, 1), (N, z_dim) -> [0, 1]

works with Keras alone. Each op is the one ganzoo's call() uses, in the same order, so the outputs
are the same bit for bit on a given backend; `export_generator` checks that on probe noise before
it writes the file and refuses to write a copy that differs.
"""
import numpy as np

ZERO_INSERTION = "zero insertion (compare_gan's unpool) as Reshape + ZeroPadding3D"


def _clean_config(layer):
    """A built-in layer's config with ganzoo's custom initializers replaced (weights are copied)."""
    config = dict(layer.get_config())
    for key, value in list(config.items()):
        if key.endswith(("_initializer", "_regularizer", "_constraint")) and isinstance(value, dict):
            module = str(value.get("module", ""))
            if not module.startswith("keras"):
                config[key] = "zeros" if key.endswith("_initializer") else None
    return config


def _clone(layer, name):
    cls = type(layer)
    if cls.__module__.split(".")[0] != "keras":
        raise ValueError(f"{layer.name} is a {cls.__name__}, not a built-in Keras layer; it cannot be exported.")
    clone = cls.from_config(dict(_clean_config(layer), name=name))
    return clone, layer


def _zero_insertion(x, name):
    """2x upsampling by zero insertion ([[a, b]] -> [[a, 0, b, 0], [0, 0, 0, 0]]), data movement only."""
    import keras

    _, h, w, c = x.shape
    x = keras.layers.Reshape((h, w, 1, c), name=f"{name}_cols")(x)
    x = keras.layers.ZeroPadding3D(((0, 0), (0, 0), (0, 1)), name=f"{name}_cols_pad")(x)
    x = keras.layers.Reshape((h, 1, 2 * w, c), name=f"{name}_rows")(x)
    x = keras.layers.ZeroPadding3D(((0, 0), (0, 1), (0, 0)), name=f"{name}_rows_pad")(x)
    return keras.layers.Reshape((2 * h, 2 * w, c), name=f"{name}_out")(x)


def _apply(pairs, layer, name, x):
    clone, source = _clone(layer, name)
    out = clone(x)
    pairs.append((clone, source))
    return out


def _sndcgan(generator, z, pairs):
    import keras

    x = _apply(pairs, generator.fc, "fc", z)
    x = _apply(pairs, generator.fc_bn, "fc_bn", x)
    x = keras.layers.Activation("relu", name="fc_relu")(x)
    x = keras.layers.Reshape((generator.base, generator.base, 512), name="fc_reshape")(x)
    for i, (deconv, bn) in enumerate(zip(generator.deconvs, generator.deconv_bns)):
        x = _apply(pairs, deconv, f"deconv{i + 1}", x)
        x = _apply(pairs, bn, f"deconv{i + 1}_bn", x)
        x = keras.layers.Activation("relu", name=f"deconv{i + 1}_relu")(x)
    x = _apply(pairs, generator.to_rgb, "to_rgb", x)
    x = keras.layers.Activation("tanh", name="tanh")(x)
    x = keras.layers.Rescaling(1.0, offset=1.0, name="plus_one")(x)  # (x + 1) ...
    return keras.layers.Rescaling(0.5, name="half")(x)  # ... / 2: exact in floating point


def _resampled_conv(resampled, x, name, pairs):
    if resampled.unpool is not None:
        x = _zero_insertion(x, f"{name}_unpool")
    if resampled.conv.__class__.__module__.split(".")[0] != "keras":
        raise ValueError(f"{name}: a generator convolution with spectral norm cannot be exported.")
    x = _apply(pairs, resampled.conv, f"{name}_conv", x)
    if resampled.pool is not None:
        x = _apply(pairs, resampled.pool, f"{name}_pool", x)
    return x


def _self_attention(attention, x, pairs):
    """SAGAN's block (ganzoo.layers.SelfAttention.call) from built-in layers: Dot is the batched
    matmul (with phi transposed), Rescaling(sigma) the scalar gate."""
    import keras

    _, h, w, c = x.shape
    pooled = (h // 2) * (w // 2)
    theta = _apply(pairs, attention.theta, "attention_theta", x)
    theta = keras.layers.Reshape((h * w, c // 8), name="attention_theta_flat")(theta)
    phi = _apply(pairs, attention.phi, "attention_phi", x)
    phi = _apply(pairs, attention.pool, "attention_phi_pool", phi)
    phi = keras.layers.Reshape((pooled, c // 8), name="attention_phi_flat")(phi)
    g = _apply(pairs, attention.g, "attention_g", x)
    g = _apply(pairs, attention.pool, "attention_g_pool", g)
    g = keras.layers.Reshape((pooled, c // 2), name="attention_g_flat")(g)
    scores = keras.layers.Dot(axes=(2, 2), name="attention_scores")([theta, phi])
    weights = keras.layers.Softmax(axis=-1, name="attention_softmax")(scores)
    attended = keras.layers.Dot(axes=(2, 1), name="attention_attended")([weights, g])
    attended = keras.layers.Reshape((h, w, c // 2), name="attention_attended_map")(attended)
    out = _apply(pairs, attention.attn_g, "attention_out", attended)
    # sigma is a weight of the block, a constant of the copy: counted as copied.
    sigma = float(keras.ops.convert_to_numpy(attention.sigma))
    pairs.append((None, attention.sigma))
    out = keras.layers.Rescaling(sigma, name="attention_sigma")(out)
    return keras.layers.Add(name="attention_add")([x, out])


def _resnet(generator, z, pairs):
    import keras

    x = _apply(pairs, generator.fc, "fc", z)
    x = keras.layers.Reshape((4, 4, generator.BASE_CHANNELS), name="fc_reshape")(x)
    for i, block in enumerate(generator.blocks):
        name = f"block{i + 1}"
        shortcut = _resampled_conv(block.shortcut, x, f"{name}_shortcut", pairs)
        y = _apply(pairs, block.norm1, f"{name}_bn1", x)
        y = keras.layers.Activation("relu", name=f"{name}_relu1")(y)
        y = _resampled_conv(block.conv1, y, f"{name}_conv1", pairs)
        y = _apply(pairs, block.norm2, f"{name}_bn2", y)
        y = keras.layers.Activation("relu", name=f"{name}_relu2")(y)
        y = _resampled_conv(block.conv2, y, f"{name}_conv2", pairs)
        x = keras.layers.Add(name=f"{name}_add")([y, shortcut])
        if i == generator.attention_after:
            x = _self_attention(generator.attention, x, pairs)
    x = _apply(pairs, generator.final_bn, "final_bn", x)
    x = keras.layers.Activation("relu", name="final_relu")(x)
    x = _apply(pairs, generator.to_rgb, "to_rgb", x)
    return keras.layers.Activation("sigmoid", name="sigmoid")(x)


def functional_generator(generator):
    """A keras.Model (Functional, built-in layers only) computing what `generator` computes in
    inference (batch norm with its moving statistics), with a copy of its weights."""
    import keras

    from ganzoo.architectures.blocks import ResNetGenerator
    from ganzoo.architectures.sndcgan import SNDCGANGenerator

    z = keras.Input((generator.z_dim,), name="z")
    pairs = []
    if isinstance(generator, SNDCGANGenerator):
        images = _sndcgan(generator, z, pairs)
    elif isinstance(generator, ResNetGenerator):
        images = _resnet(generator, z, pairs)
    else:
        raise ValueError(f"No plain-Keras export for {type(generator).__name__}.")
    model = keras.Model(z, images, name=f"{generator.name}_plain_keras")
    copied = 0
    for clone, source in pairs:
        if clone is None:  # a weight folded into the copy's config (SelfAttention's sigma)
            copied += 1
            continue
        clone.set_weights(source.get_weights())
        copied += len(source.weights)
    if copied != len(generator.weights):
        raise ValueError(f"The export copied {copied} of the generator's {len(generator.weights)} variables; "
                         f"{type(generator).__name__} has layers the export does not know.")
    return model


def probe_noise(z_dim, num=16, seed=1234):
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=(num, int(z_dim))).astype("float32")


def export_generator(generator, path):
    """Write `generator` as a plain-Keras .keras file; refuses (ValueError) unless the copy's
    outputs equal the generator's exactly on probe noise. Returns the path."""
    from keras import ops

    if getattr(generator, "num_classes", 0):
        # No plain-Keras rebuild of conditional batch norm yet: the file is the ganzoo model itself
        # (loading it needs ganzoo; the weights file loads as for any preset).
        generator.save(str(path))
        return path
    model = functional_generator(generator)
    z = probe_noise(generator.z_dim)
    want = ops.convert_to_numpy(generator(z, training=False))
    got = ops.convert_to_numpy(model(z, training=False))
    if not np.array_equal(want, got):
        raise ValueError(
            f"The plain-Keras copy of {generator.name} differs from it (max |diff| "
            f"{float(np.max(np.abs(want - got))):.3g}); not writing {path}."
        )
    model.save(str(path))
    return path
