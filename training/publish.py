"""Publish a training run: write its preset folder, record it in the manifest, upload it.

    # A zoo entry (the paper's recipe), trained for all its steps or fewer (--status partial):
    python training/publish.py --config sndcgan-ns-sn-cifar10 --checkpoint runs/sndcgan-ns-sn-cifar10 \
        --metrics ema=eval_ema.json --metrics raw=eval_raw.json --status partial --dry_run
    python training/publish.py --config sndcgan-ns-sn-cifar10 --checkpoint runs/sndcgan-ns-sn-cifar10 \
        --metrics ema=eval_ema.json --metrics raw=eval_raw.json --status partial --token "$HF_TOKEN"

    # Your own model: a preset folder you can load, sample and evaluate (and upload):
    python training/publish.py --checkpoint runs/mine --out_dir presets/mine [--repo_id you/mine --token ...]
    ganzoo sample presets/mine --out grid.png ; ganzoo eval presets/mine --real ... ; ganzoo.load("presets/mine")

--checkpoint is a training/train.py run folder (--model_dir). The steps, hyper-parameters and
data set come from its newest checkpoint; its final weight files must match that checkpoint;
fid.jsonl (the FID curve) goes into metadata.json. --metrics are evaluation records (`ganzoo
eval` / training/eval.py --generator_weights): LABEL=PATH with LABEL ema or raw, or PATH (the
generator is read from the record's generator_weights). With both generators evaluated the one
with the lower FID is published, and the card says which and why.

A zoo entry is written to the mirror (hub_mirror/<org>/<repo>/ or $GANZOO_HUB_DIR) by default;
without --dry_run it becomes "published" or "partial" in the manifest, and with a token it is
uploaded and its commit pinned. --out_dir must be new, empty, or a preset folder ganzoo wrote:
nothing else is ever deleted. $HF_TOKEN is used for https://huggingface.co only; another
--endpoint needs --token.
"""
import json
import os
import pathlib
import sys

from absl import app, flags

FLAGS = flags.FLAGS
flags.DEFINE_string("config", None, "zoo entry (see `ganzoo list`) whose recipe the run follows; without it the "
                    "run is published as your own model (needs --out_dir)")
flags.DEFINE_string("checkpoint", None, "training run folder (training/train.py --model_dir)", required=True)
flags.DEFINE_multi_string("metrics", [], "evaluation record: ema=PATH, raw=PATH or PATH (repeat for both "
                          "generators); each number goes to the card and metadata.json with its protocol")
flags.DEFINE_enum("status", None, ["published", "partial"], "zoo entries: published (all the recipe's steps) "
                  "or partial (fewer); default: published, refused when steps are missing")
flags.DEFINE_string("name", None, "name of your own model (default: the run folder's name)")
flags.DEFINE_string("dataset_name", None, "zoo data set the run's --dataset path is a copy of (cifar10, "
                    "celebahq, lsun_bedroom), when it trained from a folder or tar")
flags.DEFINE_string("out_dir", None, "preset folder to write (zoo entries default to the mirror, "
                    "$GANZOO_HUB_DIR or hub_mirror/, under <org>/<repo>)")
flags.DEFINE_string("repo_id", None, "Hub repo id owner/name (zoo entries default to the manifest's)")
flags.DEFINE_string("token", None, "Hub token with write access (default: $HF_TOKEN, for huggingface.co "
                    "only); without one nothing is uploaded")
flags.DEFINE_string("endpoint", None, "Hub endpoint (default: $HF_ENDPOINT or https://huggingface.co)")
flags.DEFINE_bool("private", False, "create the Hub repo as private")
flags.DEFINE_bool("dry_run", False, "only write the folder: no upload, manifest unchanged")
flags.DEFINE_integer("num_samples", 64, "images in samples.png")
flags.DEFINE_integer("sample_seed", 0, "seed of the samples in samples.png")
flags.DEFINE_enum("discriminator_dtype", "float16", ["float16", "float32"], "storage of discriminator.weights.h5")
flags.DEFINE_string("manifest", None, "weights_manifest.json to update (default: ganzoo's)")
flags.DEFINE_list("exclude_metrics", [], "metrics of the --metrics records not to publish (e.g. kid,kid_stderr "
                  "when they were measured with a since-fixed bug); fid cannot be excluded")


def publish(config, checkpoint, *, metrics=(), status=None, name=None, dataset_name=None, out_dir=None,
            repo_id=None, token=None, endpoint=None, private=False, dry_run=False, num_samples=64, sample_seed=0,
            discriminator_dtype="float16", manifest_path=None, exclude_metrics=()):
    """The whole publication; returns (out_dir, records, revision or None)."""
    from ganzoo.zoo import hub, manifest, publishing

    if repo_id is not None:
        hub.check_repo_id(repo_id, "--repo_id")
    if token and not dry_run and not (repo_id or config):
        raise ValueError("--token uploads the preset: give --repo_id owner/name (or --dry_run).")
    if config:
        entry = manifest.get_entry(config, manifest_path)
        repo_id = repo_id or entry["hub"]["repo_id"]
        mirror_dir = hub.mirror_repo_dir(repo_id, hub.default_mirror_root())
        out_dir = pathlib.Path(out_dir) if out_dir else mirror_dir
        if not dry_run and not token and out_dir.resolve() != mirror_dir.resolve():
            raise ValueError(
                f"Without --token nothing is uploaded, so the model is published to the mirror only; "
                f"--out_dir {out_dir} is not the mirror folder {mirror_dir}. Drop --out_dir, set "
                f"$GANZOO_HUB_DIR, pass --token to upload, or use --dry_run."
            )
    else:
        if not out_dir:
            raise ValueError("Your own model (no --config) needs --out_dir: the preset folder to write.")
        out_dir = pathlib.Path(out_dir)
    records, summary = publishing.publish_run(
        checkpoint, out_dir, config=config, name=name, status=status, metrics=metrics, dataset_name=dataset_name,
        num_samples=num_samples, sample_seed=sample_seed, discriminator_dtype=discriminator_dtype,
        repo_id=repo_id, manifest_path=manifest_path, exclude_metrics=exclude_metrics,
    )
    inference = summary["inference"]
    print(f"publish: {summary['name']} [{summary['status']}]: {summary['d_steps']} discriminator steps on "
          f"{summary['dataset']}; inference generator {inference['generator']} ({inference['reason']})")
    for filename, record in records.items():
        print(f"publish: {out_dir / filename}  {record['size']} bytes  sha256 {record['sha256']}")
    if dry_run:
        print("publish: dry run: folder written; manifest unchanged, nothing uploaded.")
        return out_dir, records, None
    revision = None
    if token:
        revision = publishing.upload(out_dir, repo_id, token, endpoint=endpoint, private=private,
                                     commit_message=f"Publish {summary['name']} ({summary['status']}, "
                                                    f"{summary['d_steps']} D steps)")
        hashes = {f: records[f]["sha256"] for f in ("config.json", "metadata.json", "generator.weights.h5",
                                                    "discriminator.weights.h5")}
        print(f"publish: uploaded to {repo_id} at revision {revision}")
        print(f'publish: load it with ganzoo.load("hf://{repo_id}@{revision}", sha256={json.dumps(hashes)})')
    elif not config:
        print(f'publish: load it with ganzoo.load("{out_dir}") or `ganzoo sample {out_dir} --out grid.png`')
        return out_dir, records, None
    else:
        print("publish: no token: not uploaded; the manifest records the mirror copy only.")
    if config:
        path = publishing.update_manifest(
            config, records, status=summary["status"], trained={"d_steps": summary["d_steps"],
                                                                 "g_steps": summary["g_steps"]},
            revision=revision, repo_id=repo_id, metrics=summary["metrics"], manifest_path=manifest_path)
        print(f"publish: {path} updated: {config} is {summary['status']}" + (f" at {revision}" if revision else ""))
    return out_dir, records, revision


def upload_token(token, endpoint):
    """--token, else $HF_TOKEN for the official Hub only (never sent to another endpoint implicitly)."""
    from ganzoo.zoo import hub

    if token:
        return token
    env = os.environ.get("HF_TOKEN")
    if env and not hub.is_official_endpoint(endpoint or hub.OFFICIAL_ENDPOINT):
        print(f"publish: not sending $HF_TOKEN to {endpoint}: pass --token for that endpoint.", file=sys.stderr)
        return None
    return env


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    from ganzoo.zoo import ZooError

    endpoint = FLAGS.endpoint or os.environ.get("HF_ENDPOINT")
    try:
        publish(
            FLAGS.config, FLAGS.checkpoint, metrics=FLAGS.metrics, status=FLAGS.status, name=FLAGS.name,
            dataset_name=FLAGS.dataset_name, out_dir=FLAGS.out_dir, repo_id=FLAGS.repo_id,
            token=upload_token(FLAGS.token, endpoint), endpoint=endpoint, private=FLAGS.private,
            dry_run=FLAGS.dry_run, num_samples=FLAGS.num_samples, sample_seed=FLAGS.sample_seed,
            discriminator_dtype=FLAGS.discriminator_dtype, manifest_path=FLAGS.manifest,
            exclude_metrics=FLAGS.exclude_metrics,
        )
    except (ValueError, FileNotFoundError, RuntimeError, ZooError) as error:
        print(f"publish: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    app.run(main)
