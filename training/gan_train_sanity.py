r"""The sanity studies of GAN-train and GAN-test (seed 001; ganzoo.analysis.sanity): real images
stand in for a generator with a known flaw, and each measure must react as its definition says.

    KERAS_BACKEND=tensorflow python training/gan_train_sanity.py --out runs/sanity
        # docs/figures/gan_train_sanity.png and the table in docs/evaluation.md
    KERAS_BACKEND=tensorflow python training/gan_train_sanity.py --nogan_train --out runs/sanity-gantest
        # GAN-test alone: docs/figures/gan_test_sanity.png and its own table there

- salt-and-pepper: for each share of corrupted pixels, GAN-train trains the classifier recipe on
  the corrupted training images and tests it on the clean test images; GAN-test is the fixed
  classifier's (--classifier) accuracy on the corrupted test images.
- subsample: the classifier recipe trained on n class-balanced real training images, tested on the
  real test images (GAN-train of a "generator" that reproduces exactly those n images).

Every point is one classifier training (CIFAR10 with the recipe's epochs: hours on a CPU).
OUT/results.json is rewritten after each point; killed at any moment, the same command skips the
points done and resumes the one in progress from its last finished epoch (Keras' BackupAndRestore
in OUT/<point>/); a second process on OUT is refused.
"""
import json
import os

from absl import app, flags

from ganzoo.metrics.gan_train_test import CLASSIFIER_RECIPES, DEFAULT_RECIPE

FLAGS = flags.FLAGS
flags.DEFINE_string("dataset", "cifar10", "Labelled data set (cifar10, a folder or tar of class folders, "
                    "synthetic:N).")
flags.DEFINE_string("classifier", None, "GAN-test's fixed classifier: a published name (ganzoo list; default: the "
                    "data set's, e.g. cifar10-resnet20) or a .keras file from training/train_classifier.py; "
                    "without one the salt-and-pepper study reports GAN-train only.")
flags.DEFINE_boolean("gan_train", True, "Train the classifier recipe at each point (GAN-train). --nogan_train: "
                     "the salt-and-pepper study's GAN-test only (the fixed classifier on corrupted test images, "
                     "no training: minutes); the subsample points, GAN-train only, are then skipped.")
flags.DEFINE_list("noise", ["0", "0.01", "0.05", "0.1", "0.2"], "Shares of corrupted pixels.")
flags.DEFINE_list("subsets", ["2500", "5000", "10000"], "Training-set sizes of the subsampling study.")
flags.DEFINE_integer("noise_train_images", 0, "GAN-train of the salt-and-pepper study on this many class-balanced "
                     "training images (the subsample study's subset of that size, then corrupted) instead of all: "
                     "hours less per point on a CPU. 0: the whole training set, as the seed.", lower_bound=0)
flags.DEFINE_enum("recipe", DEFAULT_RECIPE, list(CLASSIFIER_RECIPES), "The classifier recipe of GAN-train "
                  "(ganzoo.metrics.gan_train_test.CLASSIFIER_RECIPES).")
flags.DEFINE_integer("epochs", None, "Epochs of each classifier training (default: the recipe's).", lower_bound=1)
flags.DEFINE_integer("depth", None, "The resnet20 recipe's depth, 6n + 2 (default 20).")
flags.DEFINE_integer("seed", 0, "Seed of the corruption, the subsets and the classifiers.")
flags.DEFINE_string("out", "runs/sanity", "Folder of results.json and the trainings in progress.")
flags.DEFINE_string("figures_dir", "docs/figures", "Folder of gan_train_sanity.png (gan_test_sanity.png with "
                    "--nogan_train).")
flags.DEFINE_string("markdown", "docs/evaluation.md", "Markdown file holding the table.")
flags.DEFINE_integer("synthetic_resolution", 32, "Image size of --dataset synthetic:N.")

BEGIN = "<!-- gan-train sanity table: written by training/gan_train_sanity.py -->"
END = "<!-- end of gan-train sanity table -->"
# --nogan_train has its own table and figure, so GAN-test alone never replaces the GAN-train results.
GAN_TEST_BEGIN = "<!-- gan-test sanity table (--nogan_train): written by training/gan_train_sanity.py -->"
GAN_TEST_END = "<!-- end of gan-test sanity table -->"


def section_markers():
    """(begin, end, figure file name) of this run's table: one for GAN-train runs, one for GAN-test alone."""
    if FLAGS.gan_train:
        return BEGIN, END, "gan_train_sanity.png"
    return GAN_TEST_BEGIN, GAN_TEST_END, "gan_test_sanity.png"


def points():
    """(key, kind, value) of every point asked for, in order."""
    noise = [("noise", float(v)) for v in FLAGS.noise]
    subsets = [("subset", int(v)) for v in FLAGS.subsets] if FLAGS.gan_train else []
    # A noise point trained on a subset is another point than one trained on all the images.
    of = f"-of-{FLAGS.noise_train_images}" if FLAGS.gan_train and FLAGS.noise_train_images else ""
    return [(f"{kind}-{value:g}" + (of if kind == "noise" else ""), kind, value) for kind, value in noise + subsets]


def read_results(path):
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        results = json.load(handle)
    settings = results.get("settings")
    if settings != _settings():
        raise app.UsageError(f"{path} was made with other settings ({settings}); use another --out or the same "
                             f"--dataset, --epochs, --depth and --seed ({_settings()}).")
    return results


def _epochs():
    return FLAGS.epochs or CLASSIFIER_RECIPES[FLAGS.recipe]["epochs"]


def _depth():
    return FLAGS.depth or CLASSIFIER_RECIPES[FLAGS.recipe].get("depth")


def _recipe_words():
    return f"ResNet-{_depth()}" if FLAGS.recipe == "resnet20" else FLAGS.recipe


def _settings():
    # The fixed classifier is not a setting: it is recorded with each point it measured. (Results of
    # the resnet20 recipe, the only one before airbench94, carry no recipe key.)
    settings = {"dataset": FLAGS.dataset, "epochs": _epochs(), "depth": _depth(), "seed": FLAGS.seed}
    if FLAGS.recipe != "resnet20":
        settings["recipe"] = FLAGS.recipe
    return settings if FLAGS.gan_train else dict(settings, gan_train=False)


def _classifier_name():
    return os.path.basename(FLAGS.classifier) if FLAGS.classifier else None


def run_point(kind, value, data, fixed, backup):
    from ganzoo.analysis.sanity import balanced_subset, salt_and_pepper
    from ganzoo.metrics import gan_train_test as gtt

    train_images, train_labels, test_images, test_labels, num_classes = data
    clock = gtt.TrainingClock(backup)  # a resumed point's seconds include its earlier processes' epochs
    result = {"kind": kind, "value": value, "train_images": 0}
    if FLAGS.gan_train:
        size = value if kind == "subset" else FLAGS.noise_train_images  # 0: all the training images
        index = balanced_subset(train_labels, size, seed=FLAGS.seed) if size else slice(None)
        images, labels = train_images[index], train_labels[index]
        if kind == "noise":
            images = salt_and_pepper(images, value, seed=FLAGS.seed)
        result["train_images"] = int(len(labels))
        classifier = gtt.train_classifier(images, labels, num_classes, epochs=_epochs(), depth=FLAGS.depth,
                                          seed=FLAGS.seed, verbose=2, backup_dir=backup, callbacks=[clock.callback()],
                                          recipe=FLAGS.recipe)
        result["gan_train"] = gtt.accuracy(classifier, test_images, test_labels)
    if kind == "noise" and fixed is not None:
        corrupted = salt_and_pepper(test_images, value, seed=FLAGS.seed + 1)
        result["gan_test"] = gtt.accuracy(fixed, corrupted, test_labels)
        result["classifier"] = _classifier_name()
    result["seconds"] = clock.seconds()
    return result


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ganzoo.analysis.sanity import SEED_SALT_AND_PEPPER, SEED_SUBSAMPLE_PERCENT

    noise = sorted((r for r in results if r["kind"] == "noise"), key=lambda r: r["value"])
    subsets = sorted((r for r in results if r["kind"] == "subset"), key=lambda r: r["value"])
    if FLAGS.gan_train:
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    else:  # GAN-test alone: the salt-and-pepper panel only
        fig, left = plt.subplots(1, 1, figsize=(5.5, 4))
        right = None
    if noise:
        x = [100 * r["value"] for r in noise]
        if all("gan_train" in r for r in noise):
            of = f", {noise[0]['train_images']} images" if FLAGS.noise_train_images else ""
            train_x, train_y = list(x), [100 * r["gan_train"] for r in noise]
            clean = [r for r in subsets if r["value"] == FLAGS.noise_train_images]
            if FLAGS.noise_train_images and clean and 0 not in train_x:  # the same N clean images: its 0% level
                train_x, train_y = [0.0] + train_x, [100 * clean[0]["gan_train"]] + train_y
                of += "; 0%: the subsample point"
            left.plot(train_x, train_y, "o-", label=f"GAN-train (ours{of})")
        if all("gan_test" in r for r in noise):
            left.plot(x, [100 * r["gan_test"] for r in noise], "s-", label="GAN-test (ours)")
    lo, hi = SEED_SALT_AND_PEPPER["fractions"]
    left.plot([100 * lo, 100 * hi], SEED_SALT_AND_PEPPER["gan_train_percent"], "k--", alpha=0.6,
              label="GAN-train (seed 001, end points)")
    left.set(xlabel="corrupted pixels (%)", ylabel="accuracy (%)", title="salt-and-pepper", ylim=(0, 100))
    left.legend(fontsize=8)
    if subsets and right is not None:
        right.plot([r["value"] for r in subsets], [100 * r["gan_train"] for r in subsets], "o-", label="ours")
    if right is not None:
        sizes = sorted(SEED_SUBSAMPLE_PERCENT)
        right.plot(sizes, [SEED_SUBSAMPLE_PERCENT[n] for n in sizes], "k--", alpha=0.6, label="seed 001")
        right.set(xscale="log", xlabel="real training images", ylabel="real test accuracy (%)",
                  title="subsampled training set", ylim=(0, 100))
        right.legend(fontsize=8)
        fig.suptitle(f"GAN-train / GAN-test sanity studies ({FLAGS.dataset}, {_epochs()} epochs, "
                     f"{_recipe_words()})")
    else:
        fig.suptitle(f"GAN-test, salt-and-pepper ({FLAGS.dataset})")
    fig.tight_layout()
    from ganzoo.utils.files import atomic_output

    with atomic_output(path, what="figure") as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)


def table(results, figure):
    from ganzoo.analysis.sanity import SEED_SALT_AND_PEPPER, SEED_SUBSAMPLE_PERCENT

    command = "python training/gan_train_sanity.py " + " ".join(
        f"--{k}={v}" for k, v in (("dataset", FLAGS.dataset), ("recipe", FLAGS.recipe), ("epochs", _epochs()),
                                  ("depth", _depth()), ("seed", FLAGS.seed), ("noise", ",".join(FLAGS.noise)),
                                  ("subsets", ",".join(FLAGS.subsets))) if v is not None)
    if FLAGS.gan_train and FLAGS.noise_train_images:
        command += f" --noise_train_images={FLAGS.noise_train_images}"
    if FLAGS.gan_train:
        about = (f"{FLAGS.dataset}, classifier recipe {_recipe_words()}, {_epochs()} epochs, seed {FLAGS.seed}; "
                 f"accuracies on the real test images")
    else:
        about = f"{FLAGS.dataset}, GAN-test only (no classifier trained), seed {FLAGS.seed}"
        command += " --nogan_train"
    if FLAGS.classifier:  # a published name as given; a file as C.keras (no machine paths in docs)
        fixed = f" --classifier {FLAGS.classifier}" if os.sep not in FLAGS.classifier else " --classifier C.keras"
    else:
        fixed = " --classifier C.keras" if FLAGS.noise else ""
    used = sorted({r["classifier"] for r in results if r.get("classifier")})
    begin, end, _ = section_markers()
    lines = [begin, "", f"{about}; GAN-test uses the fixed classifier {', '.join(used) or '(none)'}. "
             f"Regenerate with `{command}{fixed}`.",
             "", "| study | point | training images | GAN-train % | GAN-test % | seed 001 % | seconds |",
             "|---|---|---|---|---|---|---|"]
    lo, hi = SEED_SALT_AND_PEPPER["fractions"]
    seed_noise = dict(zip((lo, hi), SEED_SALT_AND_PEPPER["gan_train_percent"]))
    for r in sorted(results, key=lambda r: (r["kind"], r["value"])):
        if r["kind"] == "noise":
            point, seed = f"{100 * r['value']:g}% pixels", seed_noise.get(r["value"])
            seed = f"GAN-train {seed:g}" if seed is not None else ""
        else:
            point, seed = f"{r['value']} images", SEED_SUBSAMPLE_PERCENT.get(r["value"])
            seed = f"{seed:g}" if seed is not None else ""
        gan_test = f"{100 * r['gan_test']:.1f}" if "gan_test" in r else ""
        gan_train = f"{100 * r['gan_train']:.1f}" if "gan_train" in r else "not trained"
        lines.append(f"| {'salt-and-pepper' if r['kind'] == 'noise' else 'subsample'} | {point} | "
                     f"{r['train_images'] or ''} | {gan_train} | {gan_test} | {seed} | {r['seconds']:.0f} |")
    title = "GAN-train sanity studies" if FLAGS.gan_train else "GAN-test under salt-and-pepper noise"
    lines += ["", f"![{title}]({os.path.relpath(figure, os.path.dirname(FLAGS.markdown) or '.')})", "", end]
    return "\n".join(lines)


def write_section(section):
    from ganzoo.utils.files import write_text

    path = FLAGS.markdown
    begin, end, _ = section_markers()
    text = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    if begin in text and end in text:
        text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    write_text(path, text, what="sanity table")


def main(argv):
    del argv
    from ganzoo.metrics import gan_train_test as gtt
    from ganzoo.runlock import RunLock
    from ganzoo.utils.files import write_text
    from ganzoo.zoo import classifiers

    if FLAGS.classifier is None:
        FLAGS.classifier = classifiers.default_for(FLAGS.dataset)
    if not FLAGS.gan_train and not FLAGS.classifier:
        raise app.UsageError("--nogan_train measures GAN-test only, which needs --classifier (a published name or "
                             "a .keras file).")
    if not FLAGS.gan_train and FLAGS.subsets:
        print("sanity: --nogan_train: the subsample points (GAN-train only) are skipped.", flush=True)
    asked = points()
    if not asked:
        raise app.UsageError("Nothing to run: give --noise and/or --subsets.")
    os.makedirs(FLAGS.out, exist_ok=True)
    path = os.path.join(FLAGS.out, "results.json")
    with RunLock(FLAGS.out).acquire(what="run the sanity studies"):
        results = read_results(path)
        done = results.get("points", {})
        todo = [p for p in asked if p[0] not in done]
        if todo:
            test = gtt.labelled_images(FLAGS.dataset, "test", synthetic_resolution=FLAGS.synthetic_resolution)
            train = gtt.labelled_images(FLAGS.dataset, "train", synthetic_resolution=FLAGS.synthetic_resolution) \
                if FLAGS.gan_train else (None, test[1][:0], None)  # GAN-test alone reads the test split only
            num_classes = test[2] or int(max(train[1].max(initial=0), test[1].max())) + 1
            data = (train[0], train[1], test[0], test[1], num_classes)
            fixed = classifiers.load_classifier(FLAGS.classifier, num_classes=num_classes)[0] \
                if FLAGS.classifier else None
        for key, kind, value in todo:
            print(f"sanity: {key} ...", flush=True)
            done[key] = run_point(kind, value, data, fixed, os.path.join(FLAGS.out, key))
            print(f"sanity: {key}: {done[key]}", flush=True)
            write_text(path, json.dumps({"settings": _settings(), "points": done}, indent=2) + "\n",
                       what="sanity results")
    shown = [done[p[0]] for p in asked]
    figure = os.path.join(FLAGS.figures_dir, section_markers()[2])
    os.makedirs(FLAGS.figures_dir, exist_ok=True)
    plot(shown, figure)
    write_section(table(shown, figure))
    print(f"figure -> {figure}; table -> {FLAGS.markdown}")
    return 0


if __name__ == "__main__":
    app.run(main)
