"""Publishing a trained model: the repo folder, its model card, the manifest, the Hub upload.

The published layout (identical on the Hub and in the mirror, hub_mirror/<org>/<repo>/):

    README.md                 model card (front matter with library_name: keras)
    config.json               the recipe, what was trained, sub-model configs, metrics, file hashes
    generator.weights.h5      inference generator (the EMA average when the recipe has one)
    discriminator.weights.h5  the discriminator, for fine-tuning
    samples.png               a grid of generator samples (seed recorded in config.json)

training/publish.py is the command-line front end.
"""
import datetime
import json
import os
import pathlib
import shutil
import tempfile

from ganzoo.zoo import hub, manifest

LAYOUT = manifest.PUBLISHED_FILES
DATASET_NAMES = {"cifar10": "CIFAR10", "celebahq": "CelebA-HQ", "lsun_bedroom": "LSUN-Bedroom"}
CONFIG_FORMAT = "ganzoo-model"
_UPLOAD_PATTERNS = ["*.md", "*.json", "*.h5", "*.png"]


def normalize_metrics(record):
    """Metrics, each {"name", "value", "protocol"[, "details"]}, from an evaluation record.

    Accepts a list of such dicts; {"metrics": list or {name: {"value" or "mean", ...}},
    "protocol": ...} such as `ganzoo eval --out` records (the mean over sample sets is the value;
    std and per-set values go to details); or a flat record such as `ganzoo fid --json` output,
    {"fid": 31.2, "protocol": ..., ...}. Protocol dicts become "key: value; ..." strings.
    """
    if record is None:
        return []
    if isinstance(record, dict) and "metrics" in record:
        inner = record["metrics"]
        if isinstance(inner, dict):
            inner = [dict(value, name=key) if isinstance(value, dict) else {"name": key, "value": value}
                     for key, value in inner.items()]
        shared = record.get("protocol")
        metrics = [dict(m, protocol=m.get("protocol", shared)) for m in inner]
    elif isinstance(record, dict):
        shared = record.get("protocol")
        metrics = [
            {"name": key, "value": value, "protocol": shared}
            for key, value in record.items()
            if key.lower() in ("fid", "kid", "is", "inception_score", "precision", "recall")
            and isinstance(value, (int, float))
        ]
    else:
        metrics = list(record)
    out = []
    for metric in metrics:
        metric = dict(metric)
        if "value" not in metric and "mean" in metric:
            metric["value"] = metric.pop("mean")
        protocol = metric.get("protocol")
        if isinstance(protocol, dict):
            protocol = "; ".join(f"{k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}"
                                 for k, v in protocol.items())
        elif isinstance(protocol, list):
            protocol = json.dumps(protocol)
        if not protocol:
            raise ValueError(
                f"Metric {metric.get('name')!r} has no protocol. Every published number must say how it was "
                f"measured (images, reference set, network); pass the evaluator's full record."
            )
        if not isinstance(metric.get("value"), (int, float)):
            raise ValueError(f"Metric {metric.get('name')!r} has no numeric value: {metric!r}")
        item = {"name": str(metric["name"]), "value": float(metric["value"]), "protocol": str(protocol)}
        details = dict(metric.get("details") or {})
        details.update({k: v for k, v in metric.items() if k not in ("name", "value", "protocol", "details")})
        if details:
            item["details"] = details
        out.append(item)
    if not out:
        raise ValueError(f"No metrics found in the evaluation record: {str(record)[:200]}")
    return out


def _check_matches_recipe(gan, training):
    g, d = gan.generator, gan.discriminator
    got = {
        "architecture": _architecture(g),
        "resolution": int(g.resolution),
        "z_dim": int(g.z_dim),
        "normalization": d.normalization,
    }
    wrong = {k: (v, training[k]) for k, v in got.items() if v != training[k]}
    if wrong:
        raise ValueError(
            "The trained model does not match the manifest's recipe: "
            + ", ".join(f"{k} is {a!r}, the recipe says {b!r}" for k, (a, b) in wrong.items())
            + ". Publish it under the entry whose name matches its config."
        )


def _architecture(model):
    from ganzoo.architectures import architecture_name

    return architecture_name(model)


def _fmt(value):
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _metric_value(metric):
    details = metric.get("details") or {}
    text = f"{metric['value']:.4g}"
    if isinstance(details.get("std"), (int, float)):
        text += f" ± {details['std']:.2g}"
        if isinstance(details.get("values"), list):
            text += f" ({len(details['values'])} sample sets)"
    return text


def model_card(entry, config, records):
    """The README.md text of a published model."""
    name, training, paper = entry["name"], config["training"], entry["paper"]
    dataset = DATASET_NAMES.get(entry["dataset"], entry["dataset"])
    trained = config["trained"]
    metrics = config["metrics"]
    front = [
        "---",
        "library_name: keras",
        "pipeline_tag: unconditional-image-generation",
        "tags:",
        *[f"- {t}" for t in ("ganzoo", "gan", "keras", training["architecture"], entry["dataset"],
                              "unconditional-image-generation")],
        "datasets:",
        f"- {entry['dataset']}",
    ]
    if metrics:
        front += [
            "model-index:",
            f"- name: {name}",
            "  results:",
            "  - task:",
            "      type: unconditional-image-generation",
            "    dataset:",
            f"      name: {dataset}",
            f"      type: {entry['dataset']}",
            "    metrics:",
        ]
        for metric in metrics:
            front += [f"    - type: {metric['name'].lower()}", f"      value: {metric['value']:.4g}",
                      f"      name: {metric['name'].upper()} (see the protocol in the card)"]
    front.append("---")
    rows = "\n".join(f"| `{k}` | {_fmt(v)} |" for k, v in training.items())
    lines = [
        *front,
        "",
        f"# {name}",
        "",
        f"{entry['title']}: a GAN from the zoo of ganzoo (`pip install ganzoo`), the Keras 3 "
        "model zoo of Kurach et al., *The GAN Landscape: Losses, Architectures, Regularization, and "
        "Normalization*.",
        "",
        "![samples](samples.png)",
        "",
        f"`samples.png`: {config['samples']['num']} samples of `generator.weights.h5`, "
        f"`generator.sample({config['samples']['num']}, seed={config['samples']['seed']})`.",
        "",
        "## Load and sample",
        "",
        "```python",
        "import ganzoo",
        "",
        f'generator = ganzoo.load("{name}")  # files are sha256-checked before loading',
        "images = generator.sample(16, seed=0)  # numpy float32 in [0, 1], shape (16, H, W, 3)",
        "```",
        "",
        f"or from a shell: `ganzoo sample {name} --num 64 --seed 0 --out samples.png`.",
        "",
        "## Fine-tune",
        "",
        "```python",
        f'gan = ganzoo.load("{name}", with_discriminator=True)  # compiled with the recipe\'s Adam settings',
        f"gan.fit(dataset)   # batches of disc_iters * batch_size = {training['disc_iters'] * training['batch_size']} "
        "images, float32 in [0, 1], NHWC",
        "```",
        "",
        f"To train from scratch: `{manifest.train_command(name)}`.",
        "",
        "## Training configuration",
        "",
        "The recipe (`config.json` → `training`; `steps` counts discriminator steps, as the paper does):",
        "",
        "| key | value |",
        "| --- | --- |",
        rows,
        "",
        f"This checkpoint was trained for **{trained['d_steps']} discriminator steps** "
        f"({trained['g_steps']} generator steps) of the recipe's {training['steps']}"
        + (" (a shortened run)." if trained["d_steps"] < training["steps"] else ".")
        + f" Data set: {dataset}, {training['resolution']}x{training['resolution']}. "
        f"Keras {config['keras_version']}, backend {config['backend']}.",
        "",
    ]
    if trained.get("differs_from_recipe"):
        lines += [
            "The run differed from the recipe in: "
            + ", ".join(f"`{k}` = {_fmt(v)}" for k, v in trained["differs_from_recipe"].items()) + ".",
            "",
        ]
    if paper.get("unverified"):
        lines += [
            "Values not stated in the paper's tables as ganzoo's notes record them (defaults used): "
            + ", ".join(f"`{k}`" for k in paper["unverified"]) + ".",
            "",
        ]
    lines += ["## Metrics", ""]
    if metrics:
        lines += ["| metric | value | protocol |", "| --- | --- | --- |"]
        lines += [f"| {m['name']} | {_metric_value(m)} | {m['protocol']} |" for m in metrics]
    else:
        lines.append("Not evaluated yet: no numbers are claimed for this checkpoint.")
    lines += [""]
    if paper.get("fid") is not None:
        lines += [
            f"The paper reports FID {paper['fid']:.2f} for this configuration ({paper['fid_protocol']}; "
            f"{paper['source']}). Numbers are comparable only when the protocol is the same.",
            "",
        ]
    lines += [
        "## Files",
        "",
        "| file | bytes | sha256 |",
        "| --- | --- | --- |",
        *[f"| `{f}` | {r['size']} | `{r['sha256']}` |" for f, r in records.items()],
        "",
        "`config.json` lists the same hashes; `ganzoo.load` refuses any file that does not match.",
        "",
        "## Citation",
        "",
        "```bibtex",
        "@inproceedings{kurach2019large,",
        "  title={A Large-Scale Study on Regularization and Normalization in GANs},",
        "  author={Kurach, Karol and Lucic, Mario and Zhai, Xiaohua and Michalski, Marcin and Gelly, Sylvain},",
        "  booktitle={International Conference on Machine Learning},",
        "  year={2019}",
        "}",
        "```",
        "",
    ]
    return "\n".join(lines)


def write_repo_folder(gan, name, out_dir, *, metrics=None, num_samples=64, sample_seed=0,
                      manifest_path=None, run_settings=None):
    """Write the published layout of `gan` as model `name` into `out_dir` (replaced whole).

    `run_settings` are the hyper-parameters the run actually used (from its checkpoint); where
    they differ from the recipe, config.json and the card say so.

    Returns {filename: {"sha256", "size"}} for the five files.
    """
    import keras

    import ganzoo

    entry = manifest.get_entry(name, manifest_path)
    training = dict(entry["training"])
    _check_matches_recipe(gan, training)
    metrics = normalize_metrics(metrics) if metrics else []
    out_dir = pathlib.Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = pathlib.Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=str(out_dir.parent)))
    try:
        generator = getattr(gan, "ema_generator", None) or gan.generator
        generator.save_weights(str(stage / "generator.weights.h5"))
        gan.discriminator.save_weights(str(stage / "discriminator.weights.h5"))
        from ganzoo.utils.images import save_grid

        images = generator.sample(num_samples, seed=sample_seed)
        save_grid(images, str(stage / "samples.png"))
        records = {f: hub.file_record(stage / f) for f in ("generator.weights.h5", "discriminator.weights.h5", "samples.png")}
        config = {
            "format": CONFIG_FORMAT,
            "format_version": 1,
            "name": name,
            "title": entry["title"],
            "dataset": entry["dataset"],
            "training": training,
            "trained": {"d_steps": int(gan.d_steps), "g_steps": int(gan.g_steps),
                        "ema": getattr(gan, "ema_generator", None) is not None,
                        "differs_from_recipe": {
                            k: v for k, v in (run_settings or {}).items() if k in training and v != training[k]
                        }},
            "generator": _jsonable(gan.generator.get_config()),
            "discriminator": _jsonable(gan.discriminator.get_config()),
            "samples": {"num": int(num_samples), "seed": int(sample_seed)},
            "metrics": metrics,
            "paper": entry["paper"],
            "files": records,
            "ganzoo_version": ganzoo.__version__,
            "keras_version": keras.__version__,
            "backend": keras.backend.backend(),
            "published_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        (stage / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        (stage / "README.md").write_text(model_card(entry, config, records), encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(stage, out_dir)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return {f: hub.file_record(out_dir / f) for f in LAYOUT}


def _jsonable(value):
    return json.loads(json.dumps(value, default=str))


def check_layout(folder):
    """The problems with a published folder's layout (empty when it is exactly LAYOUT)."""
    folder = pathlib.Path(folder)
    present = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    problems = [f"missing {f}" for f in LAYOUT if f not in present]
    problems += [f"unexpected {f}" for f in present if f not in LAYOUT]
    return problems


def upload(folder, repo_id, token, *, endpoint=None, private=False, commit_message=None):
    """Upload a published folder with HfApi.upload_folder; returns the new commit's sha."""
    from huggingface_hub import HfApi

    problems = check_layout(folder)
    if problems:
        raise ValueError(f"Refusing to upload {folder}: " + "; ".join(problems))
    api = HfApi(endpoint=endpoint, token=token, library_name="ganzoo")
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    info = api.upload_folder(
        repo_id=repo_id,
        repo_type="model",
        folder_path=str(folder),
        commit_message=commit_message or f"Publish {pathlib.Path(folder).name} with ganzoo",
        allow_patterns=list(LAYOUT),
        delete_patterns=_UPLOAD_PATTERNS,
    )
    sha = getattr(info, "oid", None)
    if not sha or not hub.COMMIT_RE.match(sha):
        raise RuntimeError(f"The Hub did not return a commit sha for the upload to {repo_id} (got {sha!r}).")
    return sha


def update_manifest(name, records, *, revision=None, repo_id=None, metrics=None, manifest_path=None):
    """Mark `name` published in the manifest with its files' hashes, revision and metrics."""
    data = manifest.load_manifest(manifest_path)
    if name not in data["models"]:
        manifest.get_entry(name, manifest_path)  # raises with the closest names
    entry = data["models"][name]
    entry["status"] = "published"
    if repo_id:
        entry["hub"]["repo_id"] = repo_id
    entry["hub"]["revision"] = revision
    entry["hub"]["files"] = {f: dict(records[f]) for f in LAYOUT}
    entry["metrics"] = normalize_metrics(metrics) if metrics else []
    return manifest.write_manifest(data, manifest_path)
