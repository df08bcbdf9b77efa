"""GAN-train and GAN-test (Shmelkov, Schmid & Alahari 2018, "How good is my GAN?").

- GAN-test: the accuracy of a fixed classifier, trained on the real training set, on generated
  labelled images. It measures quality (do the images of class y look like class y?), not
  diversity: a generator that memorised one good image per class scores perfectly.
- GAN-train: the real test accuracy of the same classifier recipe trained on N generated labelled
  images. It falls when the generator misses part of the data (diversity) as well as when its
  images are poor.

Labels: a class-conditional generator's images carry the classes they were drawn for (uniform,
from the seed). An unconditional generator has none: GAN-test then labels each image with the
classifier's own prediction, so an accuracy would be 1 by construction; it reports the
classifier's mean confidence in its own label instead, and says so in the result. GAN-train of an
unconditional generator needs a labelling classifier (the fixed one: pseudo-labels, said in the
result) and refuses without one.

The classifier recipe (CLASSIFIER_RECIPE): ResNet-20 for CIFAR (He et al. 2016, section 4.2:
6n+2 layers, 16/32/64 channels, 1x1 projection shortcuts when the shape changes, as the Keras
CIFAR ResNet example's v1), SGD with Nesterov momentum 0.9, learning rate 0.1 with cosine decay,
weight decay 5e-4 coupled as in PyTorch's SGD (an L2 term wd/2 |w|^2 on every conv and dense
kernel, so the gradient gains wd * w before the momentum; Keras' SGD(weight_decay=) is decoupled,
w -= lr * wd * w, about 1 / (1 - momentum) = 10x weaker), batch 128, batch-norm momentum 0.9
(PyTorch's 0.1), random shifts of up to 4 pixels (zero fill, as pad-and-crop) and horizontal flips.
The seed paper's classifier (a ResNet of theirs) reached 92.8% on real CIFAR10; ResNet-20 is
documented at 91.25% (He et al., Table 6).
"""
import hashlib

import os

import numpy as np

CLASSIFIER_RECIPE = {
    "architecture": "resnet", "depth": 20, "widths": (16, 32, 64), "shortcut": "1x1 projection",
    "optimizer": "sgd", "learning_rate": 0.1, "schedule": "cosine", "momentum": 0.9, "nesterov": True,
    "weight_decay": 5e-4, "weight_decay_kind": "coupled", "batch_norm_momentum": 0.9, "batch_size": 128, "epochs": 100, "augmentation": "random shifts of up to 4 pixels (zero fill), horizontal flips",
}


def build_classifier(num_classes=10, resolution=32, depth=20, seed=0, weight_decay=CLASSIFIER_RECIPE["weight_decay"]):
    """The recipe's ResNet (depth 6n + 2) as a Keras Functional model: images in [0, 1] -> logits.

    weight_decay: the coupled decay of every conv and dense kernel, as an L2 loss term wd/2 |w|^2
    (its gradient is wd * w: PyTorch's SGD(weight_decay=wd) on those kernels)."""
    import keras

    if (depth - 2) % 6 or depth < 8:
        raise ValueError(f"depth must be 6n + 2 (8, 14, 20, 32, ...); got {depth}.")
    keras.utils.set_random_seed(int(seed))
    blocks = (depth - 2) // 6
    decay = keras.regularizers.L2(weight_decay / 2) if weight_decay else None

    def conv(x, channels, kernel=3, strides=1):
        return keras.layers.Conv2D(channels, kernel, strides=strides, padding="same",
                                   kernel_initializer="he_normal", kernel_regularizer=decay)(x)

    def bn_relu(x, relu=True):
        x = keras.layers.BatchNormalization(momentum=0.9)(x)  # PyTorch's 0.1: settles in fewer steps
        return keras.layers.ReLU()(x) if relu else x

    inputs = keras.Input((resolution, resolution, 3))
    x = keras.layers.Rescaling(2.0, offset=-1.0)(inputs)  # [0, 1] -> [-1, 1]
    x = bn_relu(conv(x, 16))
    for stage, channels in enumerate((16, 32, 64)):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            y = bn_relu(conv(x, channels, strides=strides))
            y = bn_relu(conv(y, channels), relu=False)
            if strides != 1 or x.shape[-1] != channels:
                x = conv(x, channels, kernel=1, strides=strides)
            x = keras.layers.ReLU()(keras.layers.Add()([x, y]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes, kernel_initializer="he_normal", kernel_regularizer=decay)(x)
    return keras.Model(inputs, outputs, name=f"resnet{depth}_classifier")


def train_classifier(images, labels, num_classes=10, epochs=CLASSIFIER_RECIPE["epochs"],
                     batch_size=CLASSIFIER_RECIPE["batch_size"], depth=CLASSIFIER_RECIPE["depth"], seed=0,
                     augment=True, verbose=0, backup_dir=None, callbacks=()):
    """The recipe trained on (images in [0, 1], NHWC; int labels). Returns the Keras model.

    backup_dir: Keras' BackupAndRestore folder: the state is saved at each epoch's end and a run
    killed at any moment resumes from its last finished epoch when called again with the same
    folder and settings (Keras deletes the backup once training ends; a state of other data, epochs
    or recipe is refused, see TrainingSettings). callbacks: more Keras callbacks."""
    import keras

    images = np.asarray(images, dtype="float32")
    labels = np.asarray(labels)
    if images.ndim != 4 or len(images) != len(labels) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"train_classifier: images (N, H, W, 3) in [0, 1] and N integer labels; got "
                         f"{images.shape} and {labels.shape} {labels.dtype}.")
    net = build_classifier(num_classes, images.shape[1], depth, seed)
    if augment:  # random shifts and flips, active in training only
        inputs = keras.Input(images.shape[1:])
        x = keras.layers.RandomFlip("horizontal", seed=seed)(inputs)
        # 4-pixel shifts with zero fill (pad 4 and crop, without RandomCrop's inference resize,
        # which breaks the build on JAX)
        x = keras.layers.RandomTranslation(4 / images.shape[1], 4 / images.shape[2], fill_mode="constant",
                                           interpolation="nearest", seed=seed)(x)
        model = keras.Model(inputs, net(x), name=net.name)
    else:
        model = net
    compile_classifier(model, max(1, int(np.ceil(len(images) / batch_size))) * int(epochs))
    callbacks = list(callbacks)
    if backup_dir is not None:
        TrainingSettings(backup_dir).check_or_write(
            {"images": list(images.shape), "data_sha256": _data_sha256(images, labels), "num_classes": int(num_classes),
             "epochs": int(epochs), "batch_size": int(batch_size), "depth": int(depth), "seed": int(seed),
             "augment": bool(augment), "recipe": CLASSIFIER_RECIPE})
        callbacks.insert(0, keras.callbacks.BackupAndRestore(str(backup_dir)))
    model.fit(images, labels.astype("int32"), batch_size=batch_size, epochs=int(epochs), shuffle=True,
              verbose=verbose, callbacks=callbacks)
    return net  # the classifier without the augmentation layers


def compile_classifier(model, total_steps):
    """The recipe's optimiser and loss on `model`: SGD with Nesterov momentum, the learning rate's
    cosine decay over total_steps, cross-entropy of logits (the weight decay is in the model's
    kernel regularisers, see build_classifier)."""
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(CLASSIFIER_RECIPE["learning_rate"], int(total_steps))
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=CLASSIFIER_RECIPE["momentum"],
                                                 nesterov=CLASSIFIER_RECIPE["nesterov"]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def _data_sha256(images, labels):
    digest = hashlib.sha256(np.ascontiguousarray(images).data)  # no copy of the images
    digest.update(np.asarray(labels, dtype="int64").tobytes())
    return digest.hexdigest()


class TrainingSettings:
    """What a training in Keras' BackupAndRestore folder was started with (FOLDER/settings.json).
    Keras resumes whatever state the folder holds, even one of other data, epochs (the cosine
    schedule's length) or recipe, which would mix two trainings under one record: a state whose
    settings differ, or are unknown, is refused. Keras deletes the folder, this file with it, when
    the training ends."""

    FILE = "settings.json"

    def __init__(self, folder):
        self.folder = str(folder)
        self.path = os.path.join(self.folder, self.FILE)

    def check_or_write(self, settings):
        import json

        from ganzoo.utils.files import write_text

        settings = json.loads(json.dumps(settings))  # tuples -> lists, as read back
        own = (self.FILE, TrainingClock.FILE)  # what ganzoo keeps beside Keras' state
        state = sorted(name for name in os.listdir(self.folder) if name not in own) \
            if os.path.isdir(self.folder) else []
        if not state:  # nothing to resume: this training's settings
            write_text(self.path, json.dumps(settings, indent=1, sort_keys=True) + "\n", what="training settings")
            return
        try:
            with open(self.path, encoding="utf-8") as handle:
                saved = json.load(handle)
        except (OSError, ValueError) as error:
            raise ValueError(f"{self.folder} holds a Keras training state ({', '.join(state[:3])}) without a "
                             f"readable record of its settings ({error.__class__.__name__}): it cannot be "
                             f"resumed safely. Delete {self.folder} to start the training over.") from None
        differences = [f"{key}: {saved.get(key)!r} there, {settings.get(key)!r} now"
                       for key in sorted(set(saved) | set(settings)) if saved.get(key) != settings.get(key)]
        if differences:
            raise ValueError(f"{self.folder} holds the state of a classifier training with other settings "
                             f"({'; '.join(differences)[:600]}): resume it with its own settings, or delete "
                             f"{self.folder} to start over with these.")


class TrainingClock:
    """The time of a training that may be killed and resumed from Keras' BackupAndRestore folder:
    this process's time plus what the earlier ones reached at their last finished epoch, kept in
    that folder (FOLDER/elapsed.json). Keras deletes the folder when training ends, and with it this
    file: a training started over counts from zero, a resumed one carries its earlier epochs."""

    FILE = "elapsed.json"

    def __init__(self, folder):
        import json
        import time

        self.path = os.path.join(str(folder), self.FILE)
        self.start = time.time()
        self.carried = 0.0
        if os.path.exists(self.path):
            try:
                with open(self.path, encoding="utf-8") as handle:
                    self.carried = float(json.load(handle)["seconds"])
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{self.path} is not a ganzoo training-time file ({error}); delete it to "
                                 "resume (the time recorded then counts this process only).") from None

    def seconds(self):
        import time

        return round(self.carried + time.time() - self.start, 1)

    def callback(self):
        """A Keras callback writing the time at each epoch's end (after BackupAndRestore's save)."""
        import json

        import keras

        from ganzoo.utils.files import write_text

        return keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: write_text(
            self.path, json.dumps({"seconds": self.seconds(), "epochs": epoch + 1}) + "\n", what="training time"))


def predict(classifier, images, batch_size=256):
    """Class probabilities (N, classes) of images in [0, 1]."""
    from keras import ops

    logits = np.concatenate([np.asarray(classifier.predict_on_batch(images[i : i + batch_size]))
                             for i in range(0, len(images), batch_size)])
    return np.asarray(ops.convert_to_numpy(ops.softmax(logits, axis=-1)))


def accuracy(classifier, images, labels, batch_size=256):
    return float(np.mean(predict(classifier, images, batch_size).argmax(axis=1) == np.asarray(labels)))


def classifier_sha256(classifier):
    """A hash of the classifier's weights (the protocol names the classifier it used)."""
    digest = hashlib.sha256()
    for weight in classifier.get_weights():
        digest.update(np.ascontiguousarray(weight, dtype="float32").tobytes())
    return digest.hexdigest()


TRAIN_COMMAND = "python training/train_classifier.py --dataset cifar10 --out PATH.keras"


def save_classifier(classifier, out, record):
    """Write the classifier to OUT (.keras) and OUT.json: `record` with the weights' sha256 added."""
    import json
    import pathlib

    from ganzoo.utils.files import write_text

    out = pathlib.Path(out)
    if out.suffix != ".keras":
        raise ValueError(f"a classifier file must end in .keras; got {out.name}.")
    record = dict(record, sha256=classifier_sha256(classifier))
    out.parent.mkdir(parents=True, exist_ok=True)
    classifier.save(str(out))
    write_text(str(out) + ".json", json.dumps(record, indent=2) + "\n", what="classifier record")
    return record


def check_classifier(model, num_classes=None, image_shape=None, shown="the classifier"):
    """Refuse a classifier whose outputs are not `num_classes` or whose input is not `image_shape`."""
    outputs = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
    if num_classes is not None and outputs is not None and outputs != int(num_classes):
        raise ValueError(f"classifier {shown} has {outputs} classes and the generator {num_classes}: use a "
                         "classifier trained on the generator's data set (the same classes, in the same order).")
    if image_shape is not None and getattr(model, "inputs", None) and \
            tuple(model.inputs[0].shape[1:]) != tuple(image_shape):
        raise ValueError(f"classifier {shown} takes images of shape {tuple(model.inputs[0].shape[1:])} and "
                         f"the generator makes {tuple(image_shape)}: use a classifier trained at the generator's "
                         "resolution.")


def load_classifier(path, num_classes=None, image_shape=None, *, record_path=None, label=None):
    """GAN-test's fixed classifier from a .keras file, checked: (model, info).

    The file must exist and load; its outputs must be `num_classes` and its input `image_shape`
    when given; when its record (save_classifier's PATH.json, or `record_path`) exists, the weights
    must hash to its sha256. info: `label` or the file name (no folder), the weights' sha256 and
    the record's real test accuracy (None without a record), for the protocol. Each refusal names
    the fix. (A published classifier is loaded by name with ganzoo.load_classifier, which checks
    its files against the manifest and then calls this.)
    """
    import json
    import pathlib

    import keras

    path = pathlib.Path(path)
    shown = label or path.name
    if not path.is_file():
        raise ValueError(f"classifier file {path} not found: pass the reference classifier (--classifier NAME or "
                         f"PATH.keras; `ganzoo list` shows the published ones), or train one: {TRAIN_COMMAND}")
    try:
        model = keras.saving.load_model(str(path), compile=False)
    except Exception as error:  # keras raises many kinds for a damaged or foreign file
        raise ValueError(f"classifier file {path} could not be loaded ({type(error).__name__}: {error}); it is "
                         f"corrupt or not a Keras model: train it again ({TRAIN_COMMAND}) or restore the "
                         "file.") from None
    check_classifier(model, num_classes, image_shape, shown)
    sha256 = classifier_sha256(model)
    record_path = pathlib.Path(record_path or str(path) + ".json")
    record = {}
    if record_path.is_file():
        try:
            record = json.loads(record_path.read_text())
        except ValueError as error:
            raise ValueError(f"classifier record {record_path.name} is not valid JSON ({error}): restore it, "
                             "or delete it to use the classifier without its record.") from None
        if record.get("sha256") not in (None, sha256):
            raise ValueError(f"classifier {shown}: its weights hash to sha256 {sha256[:16]}..., its record "
                             f"{record_path.name} says {str(record['sha256'])[:16]}...: the file changed since it "
                             f"was trained. Restore it or train it again ({TRAIN_COMMAND}).")
    return model, {"classifier": shown, "classifier_sha256": sha256,
                   "classifier_record": record_path.name if record else None,
                   "classifier_real_accuracy": record.get("real_test_accuracy")}


def balanced_labels(num, num_classes, seed=0):
    """Classes for `num` generated images, as equal in number as `num` allows (class k: images
    i with i % num_classes == k), in an order shuffled by `seed`: int32, shape (num,)."""
    return np.random.default_rng([int(seed), 2]).permutation(np.arange(int(num)) % int(num_classes)).astype("int32")


def per_class(labels, num_classes):
    """Generated images per class: one number when the classes are equal in size, else the list."""
    counts = np.bincount(np.asarray(labels), minlength=int(num_classes)).tolist()
    return counts[0] if len(set(counts)) == 1 else counts


def require_conditional(generator, metrics="gan_train / gan_test"):
    """The number of classes of a class-conditional generator; a clear error for an unconditional one."""
    num_classes = int(getattr(generator, "num_classes", 0) or 0)
    if not num_classes:
        raise ValueError(
            f"{metrics} need labelled images, and this generator is unconditional (num_classes 0): give the "
            "fixed real-data classifier (--classifier PATH.keras, or gan_classifier=) to label its images "
            "(gan_test then reports the classifier's mean confidence in its own label, not an accuracy; "
            "gan_train trains on those labels), evaluate a class-conditional model (a recipe with num_classes "
            "> 0, e.g. resnet_cifar-hinge-sn-cifar10-cond), or drop gan_train,gan_test from the metrics.")
    return num_classes


def _generated(generator, num, seed, batch_size, classifier=None):
    """num generated images and their labels, and where the labels come from."""
    num_classes = int(getattr(generator, "num_classes", 0) or 0)
    if num_classes:
        labels = balanced_labels(num, num_classes, seed)
        return generator.sample(num, seed=seed, batch_size=batch_size, labels=labels), labels, "generator"
    images = generator.sample(num, seed=seed, batch_size=batch_size)
    if classifier is None:
        return images, None, None
    return images, predict(classifier, images).argmax(axis=1), "classifier"


def gan_test(generator, classifier, num, seed=0, batch_size=256, real_accuracy=None):
    """GAN-test of `generator` with the fixed `classifier`: a dict with the value and its protocol."""
    images, labels, source = _generated(generator, num, seed, batch_size, classifier)
    protocol = {"n_generated": int(num), "seed": int(seed), "classifier_sha256": classifier_sha256(classifier),
                "classifier_real_accuracy": real_accuracy}
    if source == "generator":
        protocol["n_per_class"] = per_class(labels, generator.num_classes)
    if source == "generator":
        return {"value": accuracy(classifier, images, labels, batch_size), "labels": "the generator's classes",
                "protocol": protocol}
    confidence = predict(classifier, images, batch_size).max(axis=1)
    return {"value": float(confidence.mean()),
            "labels": "the classifier's own (the generator is unconditional): the value is the classifier's "
                      "mean confidence in its own label, not an accuracy",
            "protocol": protocol}


def gan_train(generator, test_images, test_labels, num, epochs=CLASSIFIER_RECIPE["epochs"], seed=0,
              classifier=None, batch_size=256, depth=CLASSIFIER_RECIPE["depth"], augment=True,
              train_batch_size=CLASSIFIER_RECIPE["batch_size"]):
    """GAN-train: the recipe trained on `num` generated labelled images, its accuracy on the real
    test set. An unconditional generator's images are labelled by `classifier` (required then)."""
    images, labels, source = _generated(generator, num, seed, batch_size, classifier)
    if labels is None:
        raise ValueError("GAN-train needs labelled images and this generator is unconditional: pass "
                         "classifier= (the fixed real-data classifier labels the generated images), or "
                         "evaluate a class-conditional model.")
    num_classes = int(getattr(generator, "num_classes", 0) or 0) or int(np.max(test_labels)) + 1
    trained = train_classifier(images, labels, num_classes, epochs=epochs, batch_size=train_batch_size, depth=depth,
                               seed=seed, augment=augment)
    return {"value": accuracy(trained, test_images, test_labels, batch_size),
            "labels": "the generator's classes" if source == "generator"
                      else "the fixed classifier's predictions (the generator is unconditional)",
            "protocol": {"n_generated": int(num), "seed": int(seed), "epochs": int(epochs), "depth": int(depth),
                         "n_test": int(len(test_labels)), "n_per_class": per_class(labels, num_classes),
                         "labelling_classifier_sha256": classifier_sha256(classifier) if classifier else None,
                         "recipe": dict(CLASSIFIER_RECIPE, epochs=int(epochs), depth=int(depth),
                                        batch_size=int(train_batch_size), augmentation=CLASSIFIER_RECIPE[
                                            "augmentation"] if augment else "none")}}


def labelled_images(dataset, split="test", data_dir=None, synthetic_resolution=32):
    """(images in [0, 1], int labels, number of classes or None) of a labelled data set's split
    (ganzoo.data.load_source: cifar10, synthetic:N, a folder or tar of class folders, tfds)."""
    from ganzoo.data.sources import load_source

    source = load_source(dataset, split=split, data_dir=data_dir, synthetic_resolution=synthetic_resolution)
    if source.labels is None or source.images is None:
        raise ValueError(f"{dataset} ({split}) has no labels or does not fit in memory: GAN-train / GAN-test's "
                         "classifiers need labelled images (a folder of class folders, cifar10, a tfds set with "
                         "labels).")
    return source.images.astype("float32") / 255.0, source.labels, len(source.class_names or []) or None


def train_reference_classifier(out, dataset="cifar10", epochs=CLASSIFIER_RECIPE["epochs"], seed=0,
                               depth=CLASSIFIER_RECIPE["depth"], data_dir=None, synthetic_resolution=32,
                               verbose=2):
    """GAN-test's fixed classifier: the recipe trained on `dataset`'s train split, measured on its test
    split. Writes OUT (a .keras file) and OUT.json (sha256 of the weights, real test accuracy, epochs,
    seconds, the recipe); returns that record. `python training/train_classifier.py` runs it.

    Killed, it resumes from its last finished epoch when run again with the same OUT (the state
    is kept in OUT.backup/ until the end); a second process on the same OUT is refused (a lock in
    OUT.backup/). `seconds` is the training time summed over the processes of a resumed run (each
    killed one counts to its last finished epoch: TrainingClock)."""
    from ganzoo.runlock import RunLock

    if not str(out).endswith(".keras"):
        raise ValueError(f"train_reference_classifier: out must be a .keras file; got {out}.")
    backup = str(out) + ".backup"
    with RunLock(backup).acquire(what="train the classifier"):
        record = _train_reference(out, dataset, epochs, seed, depth, data_dir, synthetic_resolution, verbose,
                                  backup)
    try:  # Keras removed its own state on success; the lock's folder goes too when empty
        os.rmdir(backup)
    except OSError:
        pass
    return record


def _train_reference(out, dataset, epochs, seed, depth, data_dir, synthetic_resolution, verbose, backup):
    keras_backup = os.path.join(backup, "keras")
    clock = TrainingClock(keras_backup)
    train_images, train_labels, num_classes = labelled_images(dataset, "train", data_dir, synthetic_resolution)
    test_images, test_labels, _ = labelled_images(dataset, "test", data_dir, synthetic_resolution)
    num_classes = num_classes or int(max(train_labels.max(), test_labels.max())) + 1
    classifier = train_classifier(train_images, train_labels, num_classes, epochs=epochs, depth=depth, seed=seed,
                                  verbose=verbose, backup_dir=keras_backup, callbacks=[clock.callback()])
    record = {"dataset": dataset, "num_classes": num_classes, "epochs": int(epochs), "depth": int(depth),
              "seed": int(seed), "train_images": int(len(train_labels)), "test_images": int(len(test_labels)),
              "real_test_accuracy": accuracy(classifier, test_images, test_labels),
              "seconds": clock.seconds(),
              "recipe": dict(CLASSIFIER_RECIPE, epochs=int(epochs), depth=int(depth))}
    return save_classifier(classifier, out, record)
