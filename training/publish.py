"""Publish a trained model: build its Hub repo folder, hash it, update the manifest, upload it.

    # Write the folder only (hub_mirror/ganzoo/NAME/ by default), nothing else:
    python training/publish.py --config sndcgan-ns-sn-cifar10 --checkpoint runs/sndcgan-ns-sn-cifar10 --dry_run

    # Also upload it to the Hub and pin the new commit in weights_manifest.json:
    python training/publish.py --config sndcgan-ns-sn-cifar10 --checkpoint runs/sndcgan-ns-sn-cifar10 \
        --metrics eval.json --token "$HF_TOKEN"

--checkpoint is a training run folder (training/train.py --model_dir; its newest readable
ckpt-*.weights.h5 is used, with the hyper-parameters stored in it), one such
checkpoint file, or a folder holding generator.weights.h5 and discriminator.weights.h5.
Without a token the folder is written to the mirror and the manifest records it as published
with no Hub revision (loadable from the mirror only).
"""
import glob
import json
import os
import pathlib
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("config", None, "manifest entry name (see `ganzoo list`)", required=True)
flags.DEFINE_string("checkpoint", None, "run folder, ckpt-*.weights.h5 file, or folder with "
                    "generator.weights.h5 and discriminator.weights.h5", required=True)
flags.DEFINE_string("metrics", None, "evaluation record (JSON) whose metrics, each with its "
                    "protocol, go into the model card, config.json and the manifest")
flags.DEFINE_string("out_dir", None, "where to write the repo folder (default: the mirror, "
                    "$GANZOO_HUB_DIR or hub_mirror/, under <org>/<repo>)")
flags.DEFINE_string("repo_id", None, "Hub repo id (default: the manifest's hub.repo_id)")
flags.DEFINE_string("token", None, "Hub token with write access (default: $HF_TOKEN); without "
                    "one nothing is uploaded")
flags.DEFINE_string("endpoint", None, "Hub endpoint (default: $HF_ENDPOINT or huggingface.co)")
flags.DEFINE_bool("private", False, "create the Hub repo as private")
flags.DEFINE_bool("dry_run", False, "only write the folder: no upload, manifest unchanged")
flags.DEFINE_integer("num_samples", 64, "images in samples.png")
flags.DEFINE_integer("sample_seed", 0, "seed of the samples in samples.png")
flags.DEFINE_string("manifest", None, "weights_manifest.json to update (default: ganzoo's)")


def find_checkpoint(path):
    """('gan', file) for a training checkpoint, or ('parts', folder) for sub-model weights."""
    path = pathlib.Path(path)
    if path.is_file():
        return "gan", path
    if not path.is_dir():
        raise FileNotFoundError(f"--checkpoint {path} does not exist.")
    if (path / "generator.weights.h5").is_file() and (path / "discriminator.weights.h5").is_file():
        return "parts", path
    if (path / "checkpoints").is_dir():  # a training/train.py --model_dir folder
        path = path / "checkpoints"
    from ganzoo.checkpoint import CheckpointError, read_metadata

    candidates = sorted(glob.glob(str(path / "ckpt-*.weights.h5")), reverse=True)
    for candidate in candidates:
        if ".tmp-" in os.path.basename(candidate):
            continue
        try:
            read_metadata(candidate)
        except CheckpointError as error:
            print(f"publish: skipping unreadable checkpoint {candidate}: {error}", file=sys.stderr)
            continue
        return "gan", pathlib.Path(candidate)
    raise FileNotFoundError(
        f"{path} holds no readable ckpt-*.weights.h5 and no generator/discriminator.weights.h5. "
        f"Point --checkpoint at a training run folder (training/train.py --model_dir) or a checkpoint file."
    )


MODEL_KEYS = ("architecture", "resolution", "normalization", "z_dim")


def run_settings(kind, path, training):
    """The hyper-parameters the checkpoint was trained with (the recipe's where it says none)."""
    settings = dict(training)
    if kind == "gan":
        from ganzoo.checkpoint import read_metadata

        stored = read_metadata(str(path)).get("hyper") or {}
        settings.update({k: v for k, v in stored.items() if k in training or k == "ema_start_step"})
    return settings


def load_trained_gan(name, checkpoint, manifest_path=None):
    """(GAN of entry `name` with `checkpoint`'s weights, the run's hyper-parameters)."""
    import ganzoo
    from ganzoo.zoo import manifest

    training = manifest.get_entry(name, manifest_path)["training"]
    kind, path = find_checkpoint(checkpoint)
    settings = run_settings(kind, path, training)
    wrong = [f"{k} {settings[k]!r} (the recipe: {training[k]!r})" for k in MODEL_KEYS if settings[k] != training[k]]
    if wrong:
        raise ValueError(
            f"{path} was trained with " + ", ".join(wrong) + f", so it is not a {name} model. "
            f"Publish it under the entry whose name matches its config."
        )
    gan = ganzoo.build_gan(**settings)
    if kind == "parts":
        gan.generator.load_weights(str(path / "generator.weights.h5"))
        gan.discriminator.load_weights(str(path / "discriminator.weights.h5"))
        if getattr(gan, "ema_generator", None) is not None:
            gan.ema_generator.load_weights(str(path / "generator.weights.h5"))
    else:
        try:
            gan.load_weights(str(path))
        except Exception as error:  # noqa: BLE001 - keras raises several types on mismatch
            raise ValueError(
                f"{path} does not fit the recipe of {name} ({error}). Was it trained with "
                f"`training/train.py --config {name}`?"
            ) from error
    print(f"publish: loaded {path} ({gan.d_steps} discriminator steps)")
    return gan, settings


def publish(name, checkpoint=None, *, gan=None, metrics_path=None, out_dir=None, repo_id=None, token=None,
            endpoint=None, private=False, dry_run=False, num_samples=64, sample_seed=0,
            manifest_path=None):
    """The whole publication; returns (out_dir, records, revision or None).

    The model comes from `checkpoint`, or is the trained `gan` itself when given.
    """
    from ganzoo.zoo import hub, manifest, publishing

    entry = manifest.get_entry(name, manifest_path)
    repo_id = repo_id or entry["hub"]["repo_id"]
    mirror_dir = hub.default_mirror_root().joinpath(*repo_id.split("/"))
    out_dir = pathlib.Path(out_dir) if out_dir else mirror_dir
    if not dry_run and not token and out_dir.resolve() != mirror_dir.resolve():
        raise ValueError(
            f"Without --token nothing is uploaded, so the model is published to the mirror only; "
            f"--out_dir {out_dir} is not the mirror folder {mirror_dir}. Drop --out_dir, set "
            f"$GANZOO_HUB_DIR, pass --token to upload, or use --dry_run."
        )
    metrics = None
    if metrics_path:
        metrics = publishing.normalize_metrics(json.loads(pathlib.Path(metrics_path).read_text()))
    settings = None
    if gan is None:
        gan, settings = load_trained_gan(name, checkpoint, manifest_path)
    records = publishing.write_repo_folder(
        gan, name, out_dir, metrics=metrics, num_samples=num_samples, sample_seed=sample_seed,
        manifest_path=manifest_path, run_settings=settings,
    )
    for filename, record in records.items():
        print(f"publish: {out_dir / filename}  {record['size']} bytes  sha256 {record['sha256']}")
    if dry_run:
        print("publish: dry run: folder written; manifest unchanged, nothing uploaded.")
        return out_dir, records, None
    revision = None
    if token:
        revision = publishing.upload(out_dir, repo_id, token, endpoint=endpoint, private=private,
                                     commit_message=f"Publish {name}")
        print(f"publish: uploaded to {repo_id} at revision {revision}")
    else:
        print("publish: no token: not uploaded; the manifest records the mirror copy only.")
    path = publishing.update_manifest(name, records, revision=revision, repo_id=repo_id,
                                      metrics=metrics, manifest_path=manifest_path)
    print(f"publish: {path} updated: {name} is published" + (f" at {revision}" if revision else ""))
    return out_dir, records, revision


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    try:
        publish(
            FLAGS.config, FLAGS.checkpoint, metrics_path=FLAGS.metrics, out_dir=FLAGS.out_dir,
            repo_id=FLAGS.repo_id, token=FLAGS.token or os.environ.get("HF_TOKEN"),
            endpoint=FLAGS.endpoint or os.environ.get("HF_ENDPOINT"), private=FLAGS.private,
            dry_run=FLAGS.dry_run, num_samples=FLAGS.num_samples, sample_seed=FLAGS.sample_seed,
            manifest_path=FLAGS.manifest,
        )
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f"publish: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    app.run(main)
