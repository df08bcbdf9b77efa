"""The README.md model card of a preset, from its config.json and metadata.json (preset.save_preset)."""
import json

DATASET_NAMES = {"cifar10": "CIFAR10", "celebahq": "CelebA-HQ", "lsun_bedroom": "LSUN-Bedroom"}
GENERATOR_TEXT = {"ema": "the exponential moving average (EMA) of the generator's weights",
                  "raw": "the raw generator (the weights the optimiser trained)"}
CURVE_ROWS = 20


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


def _yaml_string(text):
    return json.dumps(str(text))  # a JSON string is a valid YAML scalar


def _load_forms(metadata):
    name, repo_id = metadata["name"], metadata.get("repo_id")
    forms = []
    if metadata["status"] in ("published", "partial"):
        forms.append(f'generator = ganzoo.load("{name}")            # the zoo entry: sha256-checked files')
    if repo_id:
        forms.append(f'generator = ganzoo.load("hf://{repo_id}@COMMIT", sha256={{...}})  # hashes from the Files table')
    forms.append('generator = ganzoo.load("path/to/this/folder")  # a local copy of this repo')
    return forms


# What a reader must know about the images behind a data set's numbers.
DATA_NOTES = {
    "cifar10": "ganzoo's CIFAR10 is a JPEG copy of the CIFAR-10 images (re-encoded at quality 75), for training and "
               "for the FID reference alike: FIDs against its test images are consistent with each other but not "
               "comparable with figures computed on the original arrays, the paper's included.",
}


def _trained_where(metadata):
    """Where and with what the weights were trained (a lease run trained on a lent accelerator,
    with other versions than the process that wrote this preset)."""
    lease = ((metadata.get("run") or {}).get("lease")) or None
    written = (f"Keras {metadata['keras_version']}, backend {metadata['backend']}, "
               f"ganzoo {metadata['ganzoo_version']}")
    if not lease:
        return [f"Trained and written with {written}.", ""]
    versions = ", ".join(f"{k} {v}" for k, v in (lease.get("versions") or {}).items())
    speeds = [c.get("steady_ms_per_d_step") for c in lease.get("calls") or [] if c.get("steady_ms_per_d_step")]
    text = (f"Trained on one {lease.get('trained_on') or 'accelerator'} with the {lease.get('backend')} backend "
            f"({versions}) through benchmarks/lease.py, in {len(lease.get('calls') or [])} call(s) resumed from "
            f"checkpoints")
    if speeds:
        text += f", {min(speeds):.2f}-{max(speeds):.2f} ms per D step"
    text += (f". Batches: {lease.get('data_order')} (not tf.data's order, so not batch for batch the run "
             f"`ganzoo train` would make from the same seed). The preset was written with {written}.")
    return [text, ""]


def _curve(metadata):
    curve = [r for r in metadata.get("fid_curve") or [] if isinstance(r.get("d_step"), int)]
    if not curve:
        return []
    if len(curve) > CURVE_ROWS:  # evenly spaced rows, the last one always kept
        step = len(curve) / CURVE_ROWS
        curve = [curve[int(i * step)] for i in range(CURVE_ROWS - 1)] + [curve[-1]]
    has_raw = any("fid_raw" in r for r in curve)
    first = curve[0]
    protocol = ", ".join(f"{k}: {first[k]}" for k in ("generated", "reference", "reference_split", "dataset")
                         if k in first)
    lines = [
        "## FID during training",
        "",
        f"Measured during training every few thousand steps ({protocol or 'protocol not recorded'}); a smaller "
        "sample than the final evaluation, so the values are higher and only comparable with each other. All "
        "points are in `metadata.json` → `fid_curve`.",
        "",
        "| D step | FID (EMA or inference G) |" + (" FID (raw G) |" if has_raw else ""),
        "| ---: | ---: |" + (" ---: |" if has_raw else ""),
    ]
    for r in curve:
        row = f"| {r['d_step']} | {_fmt(r.get('fid'))} |"
        if has_raw:
            row += f" {_fmt(r.get('fid_raw'))} |"
        lines.append(row)
    return lines + [""]


COPY_METRICS = ("nn_ratio_median", "nn_ratio_p1", "nn_copy_share", "nn_duplicate_share")


def _copies(metrics):
    """"Does it copy its training images?": a section from the nearest_neighbours metrics of a
    published record (ganzoo/metrics/nearest_neighbours.py says how they are measured); none
    without them."""
    nn = {m["name"]: m for m in metrics if m["name"] in COPY_METRICS}
    if set(nn) != set(COPY_METRICS):
        return []
    ratio, low = nn["nn_ratio_median"]["value"], nn["nn_ratio_p1"]["value"]
    copies, twins = nn["nn_copy_share"]["value"], nn["nn_duplicate_share"]["value"]
    return [
        "## Does it copy its training images?",
        "",
        f"Nearest neighbours (`ganzoo eval --metrics nearest_neighbours`): generated samples are "
        f"{ratio:.3g} times as far from their nearest training image as held-out real images are, at the "
        f"median ({low:.3g} at the 1st percentile; 1 = no closer than new real images, 0 = copies). "
        f"{copies:.2%} of the samples are closer to the training set than the cut that held-out real images "
        f"pass at the protocol's quantile (about that quantile, 1% by default, for a model that does not "
        f"copy), and {twins:.2%} have a near twin among the other samples (the same cut on real pairs; far "
        f"above it means crowding, mode collapse).",
        "",
        f"Protocol: {nn['nn_copy_share']['protocol']}",
        "",
    ]


def _samples_text(samples):
    if samples.get("per_class"):  # a conditional model's grid
        each = samples["per_class"]
        return (f"`samples.png`: `generator.sample_grid({samples['num']}, seed={samples['seed']})`: one row per class, "
                f"{each} image{'s' if each != 1 else ''} each.")
    return f"`samples.png`: `generator.sample({samples['num']}, seed={samples['seed']})`."


def model_card(config, metadata, json_files=None):
    """The README.md text (Hugging Face model card: YAML front matter, then Markdown).

    json_files: {"config.json": {sha256, size}, "metadata.json": ...}, listed with the weights."""
    name, status = metadata["name"], metadata["status"]
    training, recipe = config["training"], config["recipe"]
    dataset_key = metadata["dataset"]["name"]
    dataset = DATASET_NAMES.get(dataset_key, dataset_key)
    trained = metadata["trained"]
    inference = metadata["inference_generator"]
    fid = metadata["fid"]
    metrics = metadata.get("metrics") or []
    front = [
        "---",
        "library_name: keras",
        "pipeline_tag: unconditional-image-generation",
        "tags:",
        *[f"- {t}" for t in ("ganzoo", "gan", "keras", training["architecture"], "unconditional-image-generation")],
    ]
    if dataset_key in DATASET_NAMES:
        front += ["datasets:", f"- {dataset_key}"]
    if metrics:
        front += [
            "model-index:",
            f"- name: {name}",
            "  results:",
            "  - task:",
            "      type: unconditional-image-generation",
            "    dataset:",
            f"      name: {dataset}",
            f"      type: {dataset_key}",
            "    metrics:",
        ]
        for metric in metrics:
            front += [f"    - type: {metric['name'].lower()}", f"      value: {metric['value']:.4g}",
                      f"      name: {_yaml_string(metric['name'].upper() + ' (protocol in the card)')}"]
    front.append("---")

    steps_line = (f"**{trained['d_steps']:,} discriminator steps** ({trained['g_steps']:,} generator steps) "
                  f"of the recipe's {trained['recipe_steps']:,}")
    if status == "partial":
        headline = (f"**Status: partial.** The paper's recipe, trained for {steps_line}: fewer steps than the paper, "
                    f"so expect a higher FID than the paper's.")
    elif status == "published":
        headline = f"**Status: published.** The paper's recipe, trained for {steps_line}."
    else:
        headline = f"A model trained with `ganzoo train` for {steps_line}."
    lines = [
        *front,
        "",
        f"# {name}",
        "",
        f"{metadata['title']}. A GAN of ganzoo (`pip install ganzoo`), the Keras 3 model zoo of Kurach et al., "
        "*The GAN Landscape: Losses, Architectures, Regularization, and Normalization*.",
        "",
        headline,
        "",
        "## FID",
        "",
        "| | FID | protocol |",
        "| --- | --- | --- |",
    ]
    ours = fid.get("ours")
    if ours:
        shown = _metric_value({"value": ours["value"], "details": ours.get("details")})
        lines.append(f"| this checkpoint ({inference['generator']} generator) | {shown} | {ours['protocol']} |")
    else:
        lines.append("| this checkpoint | not measured | - |")
    paper = fid.get("paper")
    if paper:
        lines.append(f"| the paper | {paper['value']:.2f} | {paper['protocol']}; {paper.get('source') or ''} |")
    elif status != "custom":
        lines.append("| the paper | not reported for this configuration | - |")
    other = {k: v for k, v in (inference.get("fid") or {}).items() if k != inference["generator"] and v is not None}
    for key, value in other.items():
        lines.append(f"| the {key} generator (not published) | {value:.4g} | same as this checkpoint's |")
    lines += ["", "FIDs are comparable only when their protocols are the same.", ""]
    lines += [
        "## Inference generator",
        "",
        f"`generator.weights.h5` is {GENERATOR_TEXT[inference['generator']]}: {inference['reason']}.",
        "",
        "![samples](samples.png)",
        "",
        _samples_text(metadata["samples"]),
        "",
        "## Load and sample",
        "",
        "```python",
        "import ganzoo",
        "",
        *_load_forms(metadata),
        "images = generator.sample(16, seed=0)  # numpy float32 in [0, 1], shape (16, H, W, 3)",
        "print(generator.preset_info.summary())  # steps trained, our FID beside the paper's",
        "```",
        "",
        "With Keras alone (no ganzoo): `generator.keras` is the same generator built from Keras' built-in layers,",
        "",
        "```python",
        "import keras, numpy as np",
        "",
        'model = keras.saving.load_model("generator.keras")',
        f"z = np.random.default_rng(0).uniform(-1, 1, (16, {config['config']['z_dim']})).astype('float32')",
        "images = keras.ops.convert_to_numpy(model(z))  # [0, 1], NHWC; equal to ganzoo's outputs for this z",
        "```",
        "",
        "## Fine-tune",
        "",
        "```python",
        f'gan = ganzoo.load("{name if status != "custom" else "path/to/this/folder"}", with_discriminator=True)',
        f"gan.fit(dataset)   # batches of disc_iters * batch_size = {training['disc_iters'] * training['batch_size']} "
        "images, float32 in [0, 1], NHWC",
        "```",
        "",
        f"`discriminator.weights.h5` is stored as {metadata['files']['discriminator.weights.h5']['dtype']}; "
        "it loads into the float32 discriminator.",
        "",
        "## Training",
        "",
        f"Data set: {dataset} ({metadata['dataset']['source']}), {metadata['dataset']['resolution']}x"
        f"{metadata['dataset']['resolution']}." + (f" {DATA_NOTES[dataset_key]}" if dataset_key in DATA_NOTES else ""),
        "",
    ]
    lines += _trained_where(metadata)
    if metadata.get("train_command"):
        lines += [f"To train it from scratch: `{metadata['train_command']}`.", ""]
    lines += [
        "The recipe (`config.json` → `recipe`; `steps` counts discriminator steps, as the paper does):",
        "",
        "| key | value |",
        "| --- | --- |",
        *[f"| `{k}` | {_fmt(v)} |" for k, v in recipe.items()],
        "",
    ]
    differs = config.get("differs_from_recipe") or {}
    if differs:
        lines += ["The run differed from the recipe in: "
                  + ", ".join(f"`{k}` = {_fmt(v)}" for k, v in differs.items()) + ".", ""]
    lines += _curve(metadata)
    lines += _copies(metrics)
    if len(metrics) > 1:
        lines += ["## All metrics", "", "| metric | value | protocol |", "| --- | --- | --- |"]
        lines += [f"| {m['name']} | {_metric_value(m)} | {m['protocol']} |" for m in metrics]
        lines += [""]
    lines += [
        "## Files",
        "",
        "| file | bytes | sha256 |",
        "| --- | --- | --- |",
        *[f"| `{f}` | {r['size']} | `{r['sha256']}` |" for f, r in {**(json_files or {}), **metadata["files"]}.items()],
        "",
        "`metadata.json` lists the hashes of the weights and samples; ganzoo refuses a file that does not match. "
        "To load a revision the zoo's manifest does not pin, pass the hashes of the files you trust: "
        "`ganzoo.load(\"hf://OWNER/REPO@COMMIT\", sha256={\"config.json\": ..., \"metadata.json\": ..., "
        "\"generator.weights.h5\": ...})`.",
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
