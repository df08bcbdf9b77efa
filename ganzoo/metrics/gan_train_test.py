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

The classifier recipes (CLASSIFIER_RECIPES, by name; the networks in classifier_nets.py):

- resnet20 (CLASSIFIER_RECIPE): ResNet-20 for CIFAR (He et al. 2016, section 4.2: 6n+2 layers,
  16/32/64 channels, 1x1 projection shortcuts when the shape changes, as the Keras CIFAR ResNet
  example's v1), SGD with Nesterov momentum 0.9, learning rate 0.1 with cosine decay, weight decay
  5e-4 coupled as in PyTorch's SGD (an L2 term wd/2 |w|^2 on every conv and dense kernel, so the
  gradient gains wd * w before the momentum; Keras' SGD(weight_decay=) is decoupled, w -= lr * wd *
  w, about 1 / (1 - momentum) = 10x weaker), batch 128, batch-norm momentum 0.9 (PyTorch's 0.1),
  random shifts of up to 4 pixels (zero fill, as pad-and-crop) and horizontal flips, 100 epochs.
  ResNet-20 is documented at 91.25% on CIFAR10 (He et al., Table 6).
- airbench94 (AIRBENCH_RECIPE): Keller Jordan's airbench94 (94.0% on CIFAR10 in about 10
  epochs; classifier_nets.airbench), its hyper-parameters converted from its summed loss and
  decoupled parametrisation to Keras' mean loss: learning rate 11.5 per 1,024 examples with
  momentum 0.85 is 11.5 / (1 + 1 / 0.15) = 1.5 on the batch mean, weight decay 0.0153 per 1,024
  examples is a coupled L2 coefficient 0.0153 / 11.5 = 1.33e-3; label smoothing 0.2, batch 1,024,
  flips and 2-pixel shifts (reflect), test-time augmentation (six views). The seed paper's
  classifier (a ResNet of theirs) reached 92.8% on real CIFAR10.
"""
import hashlib

import os

import numpy as np

CLASSIFIER_RECIPE = {
    "architecture": "resnet", "depth": 20, "widths": (16, 32, 64), "shortcut": "1x1 projection",
    "optimizer": "sgd", "learning_rate": 0.1, "schedule": "cosine", "momentum": 0.9, "nesterov": True,
    "weight_decay": 5e-4, "weight_decay_kind": "coupled", "batch_norm_momentum": 0.9, "batch_size": 128, "epochs": 100, "augmentation": "random shifts of up to 4 pixels (zero fill), horizontal flips",
}
AIRBENCH_RECIPE = {
    "architecture": "airbench94", "widths": (64, 256, 256), "whitening": "2x2 patches, 24 filters, frozen; its bias "
    "trained for the first 3 epochs", "optimizer": "sgd", "learning_rate": 1.5, "schedule": "triangular: 0.2 to 1 "
    "of the rate over 23% of the steps, then down to 0.07", "momentum": 0.85, "nesterov": True,
    "weight_decay": 0.0153 / 11.5, "weight_decay_kind": "coupled", "offset_lr_multiplier": 64.0,
    "whiten_bias_epochs": 3, "lookahead": "every 5 steps, decay 0.95^5 (t / T)^3", "label_smoothing": 0.2,
    "batch_norm_momentum": 0.6, "batch_size": 1024, "epochs": 16,
    "augmentation": "random shifts of up to 2 pixels (reflect), horizontal flips",
    "test_time_augmentation": "mirror and 1-pixel shifts (6 views)",
}
CLASSIFIER_RECIPES = {"resnet20": CLASSIFIER_RECIPE, "airbench94": AIRBENCH_RECIPE}
DEFAULT_RECIPE = "resnet20"


def classifier_recipe(name=None):
    """The recipe called `name` (default DEFAULT_RECIPE), with its name; a clear error otherwise."""
    name = DEFAULT_RECIPE if name is None else name
    if name not in CLASSIFIER_RECIPES:
        raise ValueError(f"unknown classifier recipe {name!r}; choose from {', '.join(CLASSIFIER_RECIPES)}.")
    return dict(CLASSIFIER_RECIPES[name], name=name)


def build_classifier(num_classes=10, resolution=32, depth=None, seed=0, weight_decay=None, recipe=None,
                     images=None):
    """The recipe's network as a Keras Functional model: images in [0, 1] -> logits (training form:
    train_classifier returns the classifier to use, with airbench's test-time views).

    depth: ResNet's 6n + 2 (the resnet recipe only). weight_decay: the coupled decay (default the
    recipe's). images: airbench's whitening layer is estimated from them (its training images)."""
    from ganzoo.metrics import classifier_nets

    recipe = classifier_recipe(recipe)
    decay = recipe["weight_decay"] if weight_decay is None else weight_decay
    if recipe["architecture"] == "resnet":
        return classifier_nets.resnet(num_classes, resolution, recipe["depth"] if depth is None else int(depth), seed,
                                      decay)
    if depth is not None:
        raise ValueError(f"depth applies to the resnet recipe; the {recipe['name']} recipe has a fixed architecture: "
                         "drop depth (--depth).")
    if images is None:
        raise ValueError("the airbench classifier's whitening layer is estimated from its training images: pass images.")
    return classifier_nets.airbench(num_classes, resolution, seed, images, widths=recipe["widths"], weight_decay=decay,
                                    bias_decay_divisor=recipe["offset_lr_multiplier"],
                                    batch_norm_momentum=recipe["batch_norm_momentum"])


def train_classifier(images, labels, num_classes=10, epochs=None, batch_size=None, depth=None, seed=0,
                     augment=True, verbose=0, backup_dir=None, callbacks=(), recipe=None):
    """The recipe (a CLASSIFIER_RECIPES name; default DEFAULT_RECIPE) trained on (images in [0, 1],
    NHWC; int labels). epochs, batch_size, depth: the recipe's unless given. Returns the Keras
    classifier: the network without its training augmentation (airbench's: with its test-time
    views, classifier_nets.with_test_time_augmentation).

    backup_dir: Keras' BackupAndRestore folder: the state is saved at each epoch's end and a run
    killed at any moment resumes from its last finished epoch when called again with the same
    folder and settings (Keras deletes the backup once training ends; a state of other data, epochs
    or recipe is refused, see TrainingSettings). callbacks: more Keras callbacks."""
    import keras

    from ganzoo.metrics import classifier_nets

    recipe = classifier_recipe(recipe)
    epochs = recipe["epochs"] if epochs is None else int(epochs)
    batch_size = recipe["batch_size"] if batch_size is None else int(batch_size)
    images = np.asarray(images, dtype="float32")
    labels = np.asarray(labels)
    if images.ndim != 4 or len(images) != len(labels) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"train_classifier: images (N, H, W, 3) in [0, 1] and N integer labels; got "
                         f"{images.shape} and {labels.shape} {labels.dtype}.")
    airbench = recipe["architecture"] == "airbench94"
    net = build_classifier(num_classes, images.shape[1], depth, seed, recipe=recipe["name"], images=images)
    if augment:  # random shifts and flips, active in training only
        # shifts of up to `pad` pixels: ResNet's zero fill is its pad-and-crop (RandomCrop's
        # inference resize breaks the build on JAX); airbench pads by reflection
        pad, fill = (2, "reflect") if airbench else (4, "constant")
        inputs = keras.Input(images.shape[1:])
        x = keras.layers.RandomFlip("horizontal", seed=seed)(inputs)
        x = keras.layers.RandomTranslation(pad / images.shape[1], pad / images.shape[2], fill_mode=fill,
                                           interpolation="nearest", seed=seed)(x)
        model = keras.Model(inputs, net(x), name=net.name)
    else:
        model = net
    steps_per_epoch = max(1, int(np.ceil(len(images) / batch_size)))
    compile_classifier(model, steps_per_epoch * epochs, recipe["name"], steps_per_epoch)
    callbacks = list(callbacks)
    if backup_dir is not None:
        TrainingSettings(backup_dir).check_or_write(
            {"images": list(images.shape), "data_sha256": _data_sha256(images, labels), "num_classes": int(num_classes),
             "epochs": epochs, "batch_size": batch_size, "depth": None if depth is None else int(depth),
             "seed": int(seed), "augment": bool(augment), "recipe": recipe})
        callbacks.insert(0, keras.callbacks.BackupAndRestore(str(backup_dir)))
    targets = labels.astype("int32")
    if recipe.get("label_smoothing"):  # Keras smooths one-hot targets only
        targets = np.eye(int(num_classes), dtype="float32")[targets]
    model.fit(images, targets, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose,
              callbacks=callbacks)
    return classifier_nets.with_test_time_augmentation(net) if airbench else net


def compile_classifier(model, total_steps, recipe=None, steps_per_epoch=None):
    """The recipe's optimiser and loss on `model`, for a training of total_steps (steps_per_epoch:
    when airbench freezes its whitening bias). resnet20: SGD with Nesterov momentum, the learning
    rate's cosine decay over total_steps, cross-entropy of logits. airbench94: AirbenchSGD on the
    triangular schedule, cross-entropy with label smoothing. (The weight decay is in the model's
    regularisers, see build_classifier.)"""
    import keras

    from ganzoo.metrics import classifier_nets

    recipe = classifier_recipe(recipe)
    if recipe["architecture"] == "resnet":
        schedule = keras.optimizers.schedules.CosineDecay(recipe["learning_rate"], int(total_steps))
        optimizer = keras.optimizers.SGD(schedule, momentum=recipe["momentum"], nesterov=recipe["nesterov"])
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        optimizer = classifier_nets.AirbenchSGD(
            classifier_nets.TriangularSchedule(recipe["learning_rate"], int(total_steps)), momentum=recipe["momentum"],
            nesterov=recipe["nesterov"], offset_lr_multiplier=recipe["offset_lr_multiplier"],
            frozen_after={classifier_nets.WHITEN_BIAS: recipe["whiten_bias_epochs"] * int(steps_per_epoch or 1)},
            lookahead_every=5, total_steps=int(total_steps))
        loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=recipe["label_smoothing"])
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
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
    from ganzoo.metrics import classifier_nets

    try:
        model = keras.saving.load_model(str(path), compile=False, custom_objects=classifier_nets.CUSTOM_OBJECTS)
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


def gan_train(generator, test_images, test_labels, num, epochs=None, seed=0, classifier=None, batch_size=256,
              depth=None, augment=True, train_batch_size=None, recipe=None):
    """GAN-train: the recipe (a CLASSIFIER_RECIPES name; default DEFAULT_RECIPE) trained on `num`
    generated labelled images, its accuracy on the real test set. An unconditional generator's
    images are labelled by `classifier` (required then). epochs, depth, train_batch_size: the
    recipe's unless given."""
    recipe = classifier_recipe(recipe)
    epochs = recipe["epochs"] if epochs is None else int(epochs)
    train_batch_size = recipe["batch_size"] if train_batch_size is None else int(train_batch_size)
    images, labels, source = _generated(generator, num, seed, batch_size, classifier)
    if labels is None:
        raise ValueError("GAN-train needs labelled images and this generator is unconditional: pass "
                         "classifier= (the fixed real-data classifier labels the generated images), or "
                         "evaluate a class-conditional model.")
    num_classes = int(getattr(generator, "num_classes", 0) or 0) or int(np.max(test_labels)) + 1
    trained = train_classifier(images, labels, num_classes, epochs=epochs, batch_size=train_batch_size, depth=depth,
                               seed=seed, augment=augment, recipe=recipe["name"])
    used = dict(recipe, epochs=epochs, batch_size=train_batch_size,
                augmentation=recipe["augmentation"] if augment else "none")
    if depth is not None:
        used["depth"] = int(depth)
    return {"value": accuracy(trained, test_images, test_labels, batch_size),
            "labels": "the generator's classes" if source == "generator"
                      else "the fixed classifier's predictions (the generator is unconditional)",
            "protocol": {"n_generated": int(num), "seed": int(seed), "epochs": epochs, "depth": used.get("depth"),
                         "n_test": int(len(test_labels)), "n_per_class": per_class(labels, num_classes),
                         "labelling_classifier_sha256": classifier_sha256(classifier) if classifier else None,
                         "recipe": used}}


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


def train_reference_classifier(out, dataset="cifar10", epochs=None, seed=0, depth=None, data_dir=None,
                               synthetic_resolution=32, verbose=2, recipe=None):
    """GAN-test's fixed classifier: the recipe (a CLASSIFIER_RECIPES name; default DEFAULT_RECIPE)
    trained on `dataset`'s train split, measured on its test split. Writes OUT (a .keras file) and
    OUT.json (sha256 of the weights, real test accuracy, epochs, seconds, the recipe); returns that
    record. `python training/train_classifier.py` runs it.

    Killed, it resumes from its last finished epoch when run again with the same OUT (the state
    is kept in OUT.backup/ until the end); a second process on the same OUT is refused (a lock in
    OUT.backup/). `seconds` is the training time summed over the processes of a resumed run (each
    killed one counts to its last finished epoch: TrainingClock)."""
    from ganzoo.runlock import RunLock

    if not str(out).endswith(".keras"):
        raise ValueError(f"train_reference_classifier: out must be a .keras file; got {out}.")
    recipe = classifier_recipe(recipe)
    epochs = recipe["epochs"] if epochs is None else int(epochs)
    if depth is None and recipe["architecture"] == "resnet":
        depth = recipe["depth"]
    backup = str(out) + ".backup"
    with RunLock(backup).acquire(what="train the classifier"):
        record = _train_reference(out, dataset, epochs, seed, depth, data_dir, synthetic_resolution, verbose,
                                  backup, recipe)
    try:  # Keras removed its own state on success; the lock's folder goes too when empty
        os.rmdir(backup)
    except OSError:
        pass
    return record


def _train_reference(out, dataset, epochs, seed, depth, data_dir, synthetic_resolution, verbose, backup, recipe):
    keras_backup = os.path.join(backup, "keras")
    clock = TrainingClock(keras_backup)
    train_images, train_labels, num_classes = labelled_images(dataset, "train", data_dir, synthetic_resolution)
    test_images, test_labels, _ = labelled_images(dataset, "test", data_dir, synthetic_resolution)
    num_classes = num_classes or int(max(train_labels.max(), test_labels.max())) + 1
    classifier = train_classifier(train_images, train_labels, num_classes, epochs=epochs, depth=depth, seed=seed,
                                  verbose=verbose, backup_dir=keras_backup, callbacks=[clock.callback()],
                                  recipe=recipe["name"])
    used = dict(recipe, epochs=int(epochs))
    if depth is not None:
        used["depth"] = int(depth)
    record = {"dataset": dataset, "num_classes": num_classes, "epochs": int(epochs), "depth": used.get("depth"),
              "seed": int(seed), "train_images": int(len(train_labels)), "test_images": int(len(test_labels)),
              "real_test_accuracy": accuracy(classifier, test_images, test_labels),
              "seconds": clock.seconds(), "recipe": used}
    return save_classifier(classifier, out, record)
