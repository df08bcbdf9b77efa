r"""One prepared script for an accelerator lease (one H200, JAX + PyTorch, no TensorFlow/Keras).

Here, before the lease (docs/performance.md, "Lease plan"):

    python benchmarks/lease.py wheels       # Keras 3.15.1, namex, optree for Python 3.12 -> .whl/
    python benchmarks/lease.py prepare      # .lease/c1, .lease/c2: data + Inception in <64 MiB calls
    python benchmarks/lease.py check        # pre-flight: the lease path imports without TF

On the device machine, each call runs the same command (benchmarks/lease.sh installs the carried
wheels, then runs `lease.py call`); the script finds what is already in the persistent folder
($GANZOO_LEASE_HOME, default /root/lease), stages what this call carried, and does what it can:

    call 1, carry [".whl", ".lease/c1"]:  bash benchmarks/lease.sh --call_minutes 8
        stage CIFAR10 train/test + Inception part 1; step benchmark; train until the budget
    call 2, carry [".lease/c2"], at once: bash benchmarks/lease.sh --budget_left_s S
        stage Inception part 2; resume training while time is left; FID curve over the
        generator snapshots; evaluate (3 x 10k generated vs the 10k test images)

Every call writes to $OUT at most 8 files: lease-log.txt, report.json (status, timings, curves,
benchmark, eval record), manifest.json (sha256 of every file and part), the generator and the
discriminator weights (split into parts under 16 MiB), the last sample grid, eval.json.

Back here:

    python benchmarks/lease.py join /work/.device/<files_at> --out runs/lease-sndcgan

verifies every part against manifest.json, joins the weights and checks the whole-file hashes.
"""
import argparse
import gzip
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
try:  # hashes and atomic writes; ganzoo.utils.files imports neither Keras nor TensorFlow
    from ganzoo.utils import files
except ImportError:  # a checkout where ganzoo is not installed (the device puts REPO on the path)
    sys.path.append(str(REPO))
    from ganzoo.utils import files
MiB = 1024 * 1024

# What one call may carry (tracked + untracked files + carried paths) and bring back.
CARRY_LIMIT = 64 * MiB
OUT_FILE_LIMIT = 16 * MiB
OUT_MAX_FILES = 8
PART_BYTES = 15 * MiB  # parts of returned files: under the 16 MiB limit with room to spare

WHEEL_DIR = ".whl"
PAYLOAD_DIR = ".lease"
PAYLOAD_NAME = "payload.json"
WHEELS = ("keras==3.15.1", "namex==0.1.0", "optree==0.20.0")
PIP_DOWNLOAD = [
    "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
    "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
    "--platform", "manylinux_2_27_x86_64", "--platform", "manylinux_2_17_x86_64",
    "--platform", "manylinux2014_x86_64", "--platform", "manylinux1_x86_64",
]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "cifar10-jpeg"
INCEPTION_NAME = "inception_fid_2015_12_05.weights.h5"
DEFAULT_CONFIG = "sndcgan-ns-sn-cifar10"
HOME_ENV = "GANZOO_LEASE_HOME"


def log(message):
    print(f"[lease {time.strftime('%H:%M:%S')}] {message}", flush=True)


sha256_of = files.sha256_file  # lease_train.py and the tests use this name


def _write_json(path, data):
    return files.write_text(path, json.dumps(data, indent=2, default=str) + "\n")


def mib(n):
    return f"{n / MiB:.1f} MiB"


# ----------------------------------------------------------------------- split / join of files
def split_file(path, out_dir, part_bytes=PART_BYTES, name=None):
    """Copy `path` into `out_dir` whole (if it fits in one part) or as `<name>.part-NNN` files.

    Returns the manifest entry: {"name", "size", "sha256", "parts": [{"file", "size",
    "sha256"}]}; a file that fits is one part whose file is `name` itself.
    """
    path, out_dir = pathlib.Path(path), pathlib.Path(out_dir)
    name = name or path.name
    out_dir.mkdir(parents=True, exist_ok=True)
    size = path.stat().st_size
    entry = {"name": name, "size": size, "sha256": sha256_of(path), "parts": []}
    if size <= part_bytes:
        target = out_dir / name
        shutil.copyfile(path, target)
        entry["parts"].append({"file": name, "size": size, "sha256": sha256_of(target)})
        return entry
    with open(path, "rb") as source:
        index = 0
        while True:
            block = source.read(part_bytes)
            if not block:
                break
            part = f"{name}.part-{index:03d}"
            (out_dir / part).write_bytes(block)
            entry["parts"].append({"file": part, "size": len(block),
                                   "sha256": hashlib.sha256(block).hexdigest()})
            index += 1
    return entry


class IntegrityError(RuntimeError):
    """A part or a joined file whose bytes do not match the manifest."""


def join_file(entry, parts_dir, out_path):
    """Verify each part of a manifest entry, concatenate them into `out_path` and verify the
    whole file's size and sha256. Nothing is left under `out_path` when a check fails."""
    parts_dir, out_path = pathlib.Path(parts_dir), pathlib.Path(out_path)
    for part in entry["parts"]:
        part_path = parts_dir / part["file"]
        if not part_path.is_file():
            raise IntegrityError(f"{entry['name']}: part {part['file']} is missing in {parts_dir}")
        if files.check_file(part_path, part) is not None:
            raise IntegrityError(f"{entry['name']}: part {part['file']} does not match its "
                                 "sha256 in the manifest (damaged or from another lease)")
    with files.atomic_stream(out_path, what="joined file") as out:
        for part in entry["parts"]:
            with open(parts_dir / part["file"], "rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
        if out.size != entry["size"] or out.hexdigest() != entry["sha256"]:
            raise IntegrityError(f"{entry['name']}: the joined file does not match its sha256")
    return out_path


# ------------------------------------------------------------------------- payload (prepare)
def tree_bytes(repo=REPO):
    """Bytes of what a call sends besides `carry`: tracked and untracked-not-ignored files."""
    total = 0
    for args in (["ls-files", "-z"], ["ls-files", "-z", "--others", "--exclude-standard"]):
        out = subprocess.run(["git", "-C", str(repo)] + args, capture_output=True, check=True).stdout
        for name in filter(None, out.split(b"\0")):
            path = pathlib.Path(repo) / os.fsdecode(name)
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total


def ensure_ignored(relative, repo=REPO):
    """Add /<relative>/ to the checkout's .git/info/exclude unless git already ignores it."""
    probe = f"{relative}/probe"
    ignored = subprocess.run(["git", "-C", str(repo), "check-ignore", "-q", probe]).returncode == 0
    if ignored:
        return False
    exclude = subprocess.run(["git", "-C", str(repo), "rev-parse", "--git-path", "info/exclude"],
                             capture_output=True, text=True, check=True).stdout.strip()
    exclude = pathlib.Path(exclude if os.path.isabs(exclude) else pathlib.Path(repo) / exclude)
    exclude.parent.mkdir(parents=True, exist_ok=True)
    with open(exclude, "a", encoding="utf-8") as handle:
        handle.write(f"/{relative}/\n")
    return True


def _gzip_to(source, target):
    # mtime=0 and no file name: the same input gives the same bytes (and sha256) every time.
    with open(source, "rb") as src, open(target, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz:
            shutil.copyfileobj(src, gz, 1 << 20)


def _item(name, source, dest, encoding):
    return {"name": name, "dest": dest, "encoding": encoding, "size": source.stat().st_size,
            "sha256": sha256_of(source), "parts": []}


def _add_part(item, chunk_dir, file_name, chunk):
    path = chunk_dir / file_name
    item["parts"].append({"file": file_name, "chunk": chunk, "size": path.stat().st_size,
                          "sha256": sha256_of(path)})


def build_payload(out_dir, train_tar, test_tar, inception, wheel_bytes=0, tree=0,
                  limit=CARRY_LIMIT, margin=3 * MiB):
    """Write the carried chunks c1, c2 under `out_dir` and return the payload description.

    c1 holds the gzipped CIFAR10 train and test tars and as much of the Inception weights as
    fits beside the wheels and the working tree; c2 the rest of the weights. Each chunk folder
    holds a copy of payload.json (the sha256 of every part and of every reassembled file), so
    any call knows the whole plan.
    """
    out_dir = pathlib.Path(out_dir)
    c1, c2 = out_dir / "c1", out_dir / "c2"
    # Only the chunk folders are rebuilt: .lease/ also holds aside/, the published weights that
    # set_aside() moved out of the tree, which must survive a second `prepare`.
    for chunk_dir in (c1, c2):
        if chunk_dir.exists():
            shutil.rmtree(chunk_dir)
        chunk_dir.mkdir(parents=True)
    items = []
    for name, source, dest in (("train.tar", train_tar, "cifar10/train.tar"),
                               ("test.tar", test_tar, "cifar10/test.tar")):
        source = pathlib.Path(source)
        item = _item(name, source, dest, "gzip")
        _gzip_to(source, c1 / f"{name}.gz")
        _add_part(item, c1, f"{name}.gz", "c1")
        items.append(item)
    inception = pathlib.Path(inception)
    item = _item(INCEPTION_NAME, inception, f"cache/inception/{INCEPTION_NAME}", "concat")
    used = sum(p["size"] for i in items for p in i["parts"])
    room = limit - margin - tree - wheel_bytes - used
    total = inception.stat().st_size
    if room <= 0:
        raise SystemExit(f"no room left in call 1 for the Inception weights ({mib(room)})")
    first = min(room, total)
    with open(inception, "rb") as handle:
        (c1 / f"{INCEPTION_NAME}.part-000").write_bytes(handle.read(first))
        rest = handle.read()
    _add_part(item, c1, f"{INCEPTION_NAME}.part-000", "c1")
    if rest:
        if len(rest) > limit - margin - tree:
            raise SystemExit(f"the rest of the Inception weights ({mib(len(rest))}) does not fit "
                             "in a second call: carry less in the working tree")
        (c2 / f"{INCEPTION_NAME}.part-001").write_bytes(rest)
        _add_part(item, c2, f"{INCEPTION_NAME}.part-001", "c2")
    items.append(item)
    payload = {"format": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), "items": items}
    payload["id"] = hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:16]
    chunks = {}
    for chunk_dir in (c1, c2):
        _write_json(chunk_dir / PAYLOAD_NAME, payload)
        chunks[chunk_dir.name] = sum(f.stat().st_size for f in chunk_dir.iterdir())
    payload["chunk_bytes"] = chunks
    return payload


# The published weights are tracked files, so every call would carry them (42 MiB of the 64 for
# the first model). Nothing on the device needs them: they wait outside the working tree, in
# the git-ignored .lease/aside/, while a lease runs.
ASIDE_DIR = f"{PAYLOAD_DIR}/aside"
ASIDE_ROOTS = ("hub_mirror",)


def set_aside(repo=REPO, min_bytes=MiB):
    """Move the tracked files of at least `min_bytes` under ASIDE_ROOTS into .lease/aside/
    (same relative paths); returns their paths. restore_aside() brings them back."""
    repo = pathlib.Path(repo)
    ensure_ignored(PAYLOAD_DIR, repo)
    names = subprocess.run(["git", "-C", str(repo), "ls-files", "-z", "--", *ASIDE_ROOTS],
                           capture_output=True, check=True).stdout
    moved = []
    for name in filter(None, names.split(b"\0")):
        relative = os.fsdecode(name)
        path = repo / relative
        if path.is_file() and not path.is_symlink() and path.stat().st_size >= min_bytes:
            target = repo / ASIDE_DIR / relative
            if target.exists():
                raise SystemExit(f"{target} exists already: run `lease.py restore` first")
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            moved.append(relative)
    return moved


def restore_aside(repo=REPO):
    """Put the files set_aside() moved back; refuses to overwrite a file that came back
    meanwhile (git checkout, say) unless it is the same bytes. Returns their paths."""
    repo = pathlib.Path(repo)
    aside = repo / ASIDE_DIR
    restored = []
    for target in sorted(p for p in aside.rglob("*") if p.is_file()) if aside.is_dir() else []:
        relative = target.relative_to(aside)
        path = repo / relative
        if path.exists():
            if sha256_of(path) != sha256_of(target):
                raise SystemExit(f"{path} exists and differs from {target}: resolve by hand")
            target.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(target, path)
        restored.append(str(relative))
    return restored


def download_wheels(repo=REPO, python=sys.executable):
    wheel_dir = pathlib.Path(repo) / WHEEL_DIR
    wheel_dir.mkdir(exist_ok=True)
    ensure_ignored(WHEEL_DIR, repo)
    have = {p.name.split("-")[0].lower() for p in wheel_dir.glob("*.whl")}
    wanted = [w for w in WHEELS if w.split("==")[0].lower() not in have]
    if wanted:
        command = [python] + PIP_DOWNLOAD + ["-d", str(wheel_dir)] + wanted
        log("$ " + " ".join(command[1:]))
        subprocess.run(command, check=True)
    wheels = sorted(wheel_dir.glob("*.whl"))
    names = [p.name.split("-")[0].lower() for p in wheels]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SystemExit(f"{wheel_dir} holds several versions of {duplicates}: keep one of each "
                         "(two stop the whole install on the device)")
    for wheel in wheels:
        log(f"  {wheel.name} ({mib(wheel.stat().st_size)})")
    return wheels


def cmd_wheels(args):
    download_wheels()
    return 0


def cmd_aside(args):
    moved = set_aside()
    log(f"set aside {len(moved)} file(s) under {ASIDE_DIR}/ (restore with `lease.py restore`): "
        + ", ".join(moved))
    log(f"working tree that travels with every call: {mib(tree_bytes())}")
    return 0


def cmd_restore(args):
    restored = restore_aside()
    log(f"restored {len(restored)} file(s): " + ", ".join(restored))
    return 0


def cmd_prepare(args):
    data = pathlib.Path(args.data)
    train, test = data / "train.tar", data / "test.tar"
    inception = pathlib.Path(args.inception).expanduser()
    for path, fix in ((train, "--data"), (test, "--data"),
                      (inception, "run `ganzoo fetch-inception` or pass --inception")):
        if not path.is_file():
            raise SystemExit(f"{path} is missing: {fix}")
    wheels = [] if args.no_wheels else download_wheels()
    ensure_ignored(PAYLOAD_DIR)
    wheel_bytes = sum(w.stat().st_size for w in wheels)
    tree = tree_bytes()
    log(f"working tree that travels with every call: {mib(tree)}; wheels {mib(wheel_bytes)}")
    if tree > 8 * MiB:
        raise SystemExit(f"the working tree is {mib(tree)}: every call would carry it. Run "
                         "`python benchmarks/lease.py aside` first (the published weights wait in "
                         f"{ASIDE_DIR}/ until `lease.py restore`).")
    log("compressing the CIFAR10 tars and splitting the Inception weights ...")
    payload = build_payload(REPO / PAYLOAD_DIR, train, test, inception, wheel_bytes, tree,
                            margin=int(args.margin_mib * MiB))
    c1 = payload["chunk_bytes"]["c1"] + wheel_bytes + tree
    c2 = payload["chunk_bytes"]["c2"] + tree
    log(f"payload {payload['id']}:")
    for item in payload["items"]:
        parts = ", ".join(f"{p['chunk']}/{p['file']} {mib(p['size'])}" for p in item["parts"])
        log(f"  {item['name']} ({mib(item['size'])}): {parts}")
    log(f"call 1 sends {mib(c1)} (limit {mib(CARRY_LIMIT)}): carry [\".whl\", \".lease/c1\"]")
    log(f"call 2 sends {mib(c2)} (limit {mib(CARRY_LIMIT)}): carry [\".lease/c2\"]")
    if max(c1, c2) > CARRY_LIMIT:
        raise SystemExit("a call would exceed the carry limit")
    return 0


# ---------------------------------------------------------------------- device: home + staging
def lease_home(path=None):
    home = pathlib.Path(path or os.environ.get(HOME_ENV) or "/root/lease")
    home.mkdir(parents=True, exist_ok=True)
    return home


def _payloads(repo=REPO, home=None):
    """The payload description: from any carried chunk folder, else the staged copy."""
    found = {}
    for path in sorted((pathlib.Path(repo) / PAYLOAD_DIR).glob(f"c*/{PAYLOAD_NAME}")):
        payload = json.loads(path.read_text())
        found[payload["id"]] = payload
    if home is not None and (home / "store" / PAYLOAD_NAME).is_file():
        payload = json.loads((home / "store" / PAYLOAD_NAME).read_text())
        found.setdefault(payload["id"], payload)
    return found


def _item_ready(home, item):
    marker = home / "store" / (item["dest"] + ".ok")
    return (home / "store" / item["dest"]).is_file() and marker.is_file() and \
        marker.read_text().strip() == item["sha256"]


def stage(repo=REPO, home=None):
    """Move the parts this call carried into <home>/store/parts (each verified), rebuild every
    item whose parts are all there (verified again), and return the status."""
    home = lease_home(home)
    store = home / "store"
    parts_dir = store / "parts"
    parts_dir.mkdir(parents=True, exist_ok=True)
    payloads = _payloads(repo, home)
    if len(payloads) > 1:
        staged = store / PAYLOAD_NAME
        current = json.loads(staged.read_text())["id"] if staged.is_file() else None
        carried = sorted(set(payloads) - {current})
        if len(carried) > 1:
            raise IntegrityError(f"the carried chunks come from different `prepare` runs "
                                 f"{carried}: prepare once and carry its chunks")
        log(f"a new payload {carried[0]} replaces the staged {current}: staging afresh")
        shutil.rmtree(store)
        parts_dir.mkdir(parents=True)
        payloads = {carried[0]: payloads[carried[0]]}
    if not payloads:
        return status(repo, home)
    payload = next(iter(payloads.values()))
    _write_json(store / PAYLOAD_NAME, payload)
    for item in payload["items"]:
        if _item_ready(home, item):
            continue
        for part in item["parts"]:
            carried = pathlib.Path(repo) / PAYLOAD_DIR / part["chunk"] / part["file"]
            staged = parts_dir / part["file"]
            if staged.is_file() and staged.stat().st_size == part["size"]:
                continue
            if carried.is_file():
                if files.check_file(carried, part) is not None:
                    raise IntegrityError(f"{carried} does not match its sha256 in the payload")
                shutil.copyfile(carried, staged)
                log(f"staged {part['chunk']}/{part['file']} ({mib(part['size'])})")
        if all((parts_dir / p["file"]).is_file() for p in item["parts"]):
            _assemble(item, parts_dir, store)
    return status(repo, home)


def _assemble(item, parts_dir, store):
    dest = store / item["dest"]
    if item["encoding"] == "concat":
        join_file(item, parts_dir, dest)
    elif item["encoding"] == "gzip":
        (part,) = item["parts"]
        join_file({"name": part["file"], "size": part["size"], "sha256": part["sha256"],
                   "parts": [part]}, parts_dir, parts_dir / (part["file"] + ".checked"))
        (parts_dir / (part["file"] + ".checked")).unlink()
        with gzip.open(parts_dir / part["file"], "rb") as src, \
                files.atomic_stream(dest, what="decompressed file") as out:
            shutil.copyfileobj(src, out, 1 << 20)
            if out.hexdigest() != item["sha256"]:
                raise IntegrityError(f"{item['name']}: the decompressed file does not match its sha256")
    else:
        raise IntegrityError(f"unknown encoding {item['encoding']!r}")
    (store / (item["dest"] + ".ok")).write_text(item["sha256"] + "\n")
    for part in item["parts"]:
        (parts_dir / part["file"]).unlink(missing_ok=True)
    log(f"ready: {item['name']} ({mib(item['size'])}, sha256 {item['sha256'][:12]})")


def status(repo=REPO, home=None):
    """What is in the persistent folder, and which chunk folders still have to be carried."""
    home = lease_home(home)
    payloads = _payloads(repo, home)
    result = {"home": str(home), "payload": None, "items": {}, "carry_next": []}
    site = home / "site"
    result["wheels"] = (site / "keras").is_dir()
    if not payloads:
        result["carry_next"] = [".lease/c1"]
        return result
    payload = next(iter(payloads.values()))
    result["payload"] = payload["id"]
    missing_chunks = set()
    for item in payload["items"]:
        ready = _item_ready(home, item)
        missing = [] if ready else [p["chunk"] for p in item["parts"]
                                    if not (home / "store" / "parts" / p["file"]).is_file()]
        result["items"][item["name"]] = "ready" if ready else f"needs {', '.join(missing)}"
        missing_chunks.update(missing)
    result["carry_next"] = [f".lease/{c}" for c in sorted(missing_chunks)]
    return result


def data_paths(home):
    store = pathlib.Path(home) / "store"
    return {"cifar10": store / "cifar10", "train": store / "cifar10" / "train.tar",
            "test": store / "cifar10" / "test.tar",
            "inception": store / "cache" / "inception" / INCEPTION_NAME,
            "cache": store / "cache"}


def ready(home, what, repo=REPO):
    home = pathlib.Path(home)
    payloads = _payloads(repo, home)
    if not payloads:
        return False
    names = {"train": "train.tar", "test": "test.tar", "inception": INCEPTION_NAME}
    for item in next(iter(payloads.values()))["items"]:
        if item["name"] == names[what]:
            return _item_ready(home, item)
    return False


# ------------------------------------------------------------------------------- pack / join
def pack(out_dir, run_dir, report, log_name="lease-log.txt", max_files=OUT_MAX_FILES,
         part_bytes=PART_BYTES):
    """Write what must come back into `out_dir` (flat, at most `max_files` files, each under
    the size limit): report.json, manifest.json, weights (split into parts), the last sample
    grid, eval.json. The log file (written by lease.sh) counts as one file."""
    out_dir, run_dir = pathlib.Path(out_dir), pathlib.Path(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"format": 1, "files": [], "left_out": []}
    budget = max_files - 2 - int((out_dir / log_name).exists())  # report.json, manifest.json
    # In order of need: with an EMA the 8 files are full before eval.json, which report.json
    # carries anyway ("eval", "eval_raw"; join writes them back out).
    candidates = [run_dir / "generator.weights.h5", run_dir / "generator_raw.weights.h5",
                  run_dir / "discriminator.weights.h5", run_dir / "eval.json"]
    samples = sorted((run_dir / "samples").glob("step_*.png")) if (run_dir / "samples").is_dir() else []
    if samples:
        candidates.insert(3, samples[-1])
    for path in candidates:
        if not path.is_file():
            continue
        count = max(1, -(-path.stat().st_size // part_bytes))
        if count > budget:
            manifest["left_out"].append(f"{path.name} ({count} files; {budget} left)")
            continue
        for old in out_dir.glob(path.name + "*"):
            old.unlink()
        name = "samples.png" if path in samples else path.name
        entry = split_file(path, out_dir, part_bytes, name=name)
        if path in samples:
            entry["source"] = path.name
        manifest["files"].append(entry)
        budget -= len(entry["parts"])
    report = dict(report, returned=[e["name"] for e in manifest["files"]],
                  left_out=manifest["left_out"])
    _write_json(out_dir / "manifest.json", manifest)
    _write_json(out_dir / "report.json", report)
    return manifest


def join(files_dir, out_dir):
    """Here: check every returned file against manifest.json, join the split ones into
    `out_dir` (whole-file sha256 checked), and copy the rest beside them."""
    files_dir, out_dir = pathlib.Path(files_dir), pathlib.Path(out_dir)
    manifest_path = files_dir / "manifest.json"
    if not manifest_path.is_file():
        candidates = sorted(files_dir.rglob("manifest.json"))
        if len(candidates) != 1:
            raise SystemExit(f"no manifest.json in {files_dir}")
        manifest_path = candidates[0]
        files_dir = manifest_path.parent
    manifest = json.loads(manifest_path.read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for entry in manifest["files"]:
        written.append(join_file(entry, files_dir, out_dir / entry["name"]))
        log(f"ok  {entry['name']} ({len(entry['parts'])} part(s), sha256 {entry['sha256'][:12]})")
    listed = {p["file"] for e in manifest["files"] for p in e["parts"]}
    for path in sorted(files_dir.iterdir()):
        if path.is_file() and path.name not in listed:
            shutil.copyfile(path, out_dir / path.name)
            written.append(out_dir / path.name)
    for note in manifest.get("left_out", []):
        log(f"left on the device (not returned): {note}")
    report_path = out_dir / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    if report.get("fid_curve"):  # as train.py's fid.jsonl, for training/plot_fid.py and publish.py
        files.write_text(out_dir / "fid.jsonl", "".join(json.dumps(r) + "\n" for r in report["fid_curve"]))
        written.append(out_dir / "fid.jsonl")
    for key in ("eval", "eval_raw"):  # the evaluation records, for publish.py --metrics
        if report.get(key) and not (out_dir / f"{key}.json").is_file():
            files.write_text(out_dir / f"{key}.json", json.dumps(report[key], indent=2) + "\n")
            written.append(out_dir / f"{key}.json")
    return written


def cmd_join(args):
    join(args.files, args.out)
    log(f"joined into {args.out}")
    return 0


def cmd_status(args):
    print(json.dumps(status(home=args.home), indent=2))
    return 0


def cmd_stage(args):
    print(json.dumps(stage(home=args.home), indent=2))
    return 0


# ------------------------------------------------------------------------------------- calls
def environment():
    from importlib import metadata

    info = {"python": sys.version.split()[0], "platform": sys.platform}
    for name in ("jax", "jaxlib", "jax-cuda13-plugin", "keras", "numpy", "torch", "h5py",
                 "pillow", "scipy"):
        try:
            info[name] = metadata.version(name)  # without importing it (torch is slow to)
        except metadata.PackageNotFoundError:
            info[name] = None
    try:
        import jax

        info["devices"] = [str(d) for d in jax.devices()]
        info["device_kind"] = jax.devices()[0].device_kind
    except Exception as error:  # noqa: BLE001
        info["devices"] = f"unavailable ({error})"
    try:
        import importlib.util

        info["tensorflow_importable"] = importlib.util.find_spec("tensorflow") is not None
    except Exception:  # noqa: BLE001
        info["tensorflow_importable"] = None
    return info


class Clock:
    """Wall time of this call, from LEASE_T0 (set by lease.sh at its start) or now."""

    def __init__(self, call_minutes, t0=None):
        self.t0 = float(t0 if t0 is not None else os.environ.get("LEASE_T0") or time.time())
        self.deadline = self.t0 + 60.0 * call_minutes

    def elapsed(self):
        return time.time() - self.t0

    def left(self):
        return self.deadline - time.time()


def cmd_call(args):
    """One device call: stage, benchmark (once per lease), train to the budget, evaluate, pack."""
    if args.budget_left_s is not None:
        args.call_minutes = min(9.5, (args.budget_left_s - 75.0) / 60.0)
    if args.call_minutes <= 0:
        raise SystemExit(f"no time for a call (--call_minutes {args.call_minutes:.2f})")
    clock = Clock(args.call_minutes)
    log(f"this call may take {args.call_minutes:.2f} min")
    home = lease_home(args.home)
    out = pathlib.Path(args.out or os.environ.get("OUT") or home / "out")
    out.mkdir(parents=True, exist_ok=True)
    run_dir = home / "run"
    report_path = home / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {"calls": []}
    call = {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "args": vars(args), "phases": {}}
    report["calls"].append(call)

    def phase_done(name, started, **extra):
        call["phases"][name] = dict(seconds=round(time.time() - started, 1), **extra)
        _write_json(report_path, report)
        pack(out, run_dir, report)
        log(f"{name}: {call['phases'][name]['seconds']} s; {clock.left():.0f} s left in this call")

    started = time.time()
    repo = pathlib.Path(args.payload_root)
    call["status_before"] = status(repo, home)
    call["status"] = stage(repo, home)
    report["status"] = call["status"]
    paths = data_paths(home)
    os.environ.setdefault("GANZOO_CACHE", str(paths["cache"]))
    os.environ.setdefault("GANZOO_CIFAR10_DIR", str(paths["cifar10"]))
    log(f"status: {json.dumps(call['status'])}")
    phase_done("stage", started)

    do_bench = args.bench == "yes" or (args.bench == "auto" and "bench" not in report)
    if do_bench and clock.left() < args.bench_max_s + 60:
        log(f"bench skipped: {clock.left():.0f} s left in this call, it may take "
            f"{args.bench_max_s:.0f} s (--bench_max_s)")
    elif do_bench:
        started = time.time()
        import lease_bench

        report["bench"] = lease_bench.run_all(
            home / "bench", batch_sizes=args.bench_batch_sizes, peers=args.bench_peers,
            warmup=args.bench_warmup, steps=args.bench_steps, repeats=args.bench_repeats,
            timeout=args.bench_max_s, log=log)
        phase_done("bench", started)

    # Imports JAX in this process (after the benchmark's processes are gone).
    report["environment"] = environment()
    log(f"environment: {json.dumps(report['environment'])}")
    have_eval = ready(home, "inception", repo) and ready(home, "test", repo)
    do_eval = args.eval == "yes" or (args.eval == "auto" and have_eval)
    reserve = args.pack_reserve_s + (args.eval_reserve_s if do_eval else 0.0)
    if do_eval and args.fid_curve_samples:
        reserve += args.curve_reserve_s
    deadline = clock.deadline - reserve
    if args.minutes is not None:
        deadline = min(deadline, time.time() + 60.0 * args.minutes)
    can_train = ready(home, "train", repo) or args.dataset != "cifar10"
    if can_train and deadline - time.time() < args.min_train_s:
        log(f"no training in this call: {deadline - time.time():.0f} s left before the "
            f"reserves (--min_train_s {args.min_train_s:.0f})")
    elif can_train:
        import lease_train

        started = time.time()
        summary = lease_train.train(
            run_dir, config=args.config, data_dir=paths["cifar10"], dataset=args.dataset,
            deadline=deadline, steps=args.steps, batch_size=args.batch_size,
            resolution=args.resolution, seed=args.seed, checkpoint_every=args.checkpoint_every,
            log_every=args.log_every, sample_every=args.sample_every,
            snapshot_every=args.snapshot_every, ema_decay=args.ema_decay, log=log,
            decoded_cache=home / "store" / "decoded")
        report["training"] = summary
        report.setdefault("training_calls", []).append(
            {k: v for k, v in summary.items() if k not in ("scalars", "fid_curve", "hyper")})
        phase_done("train", started, d_steps=summary.get("d_steps_this_call"))
    else:
        log("no training data staged yet: carry " + ", ".join(call["status"]["carry_next"]))

    if do_eval and have_eval and args.fid_curve_samples and (run_dir / "config.json").is_file():
        import lease_train

        started = time.time()
        report["fid_curve"] = lease_train.curve(
            run_dir, dataset=args.dataset, data_dir=paths["cifar10"],
            num_samples=args.fid_curve_samples, seed=args.seed, batch_size=args.inception_batch,
            deadline=clock.deadline - args.pack_reserve_s - args.eval_reserve_s,
            decoded_cache=home / "store" / "decoded", log=log)
        phase_done("fid_curve", started, points=len(report["fid_curve"]))

    if do_eval and (run_dir / "generator.weights.h5").is_file():
        if not have_eval:
            log("eval skipped: the Inception weights or the test images are not staged yet")
        else:
            import lease_train

            started = time.time()
            report.update(lease_train.evaluate_generators(
                run_dir, config=args.config, test_tar=paths["test"],
                num_samples=args.eval_samples, sample_sets=args.eval_sets,
                batch_size=args.inception_batch, metrics=args.eval_metrics.split(","), log=log))
            phase_done("eval", started)

    call["status_after"] = status(repo, home)
    report["status"] = call["status_after"]
    report["next"] = _next_step(report, call["status_after"])
    call["seconds"] = round(clock.elapsed(), 1)
    _write_json(report_path, report)
    pack(out, run_dir, report)
    report = json.loads((out / "report.json").read_text())  # with what pack returned
    log(f"call done in {call['seconds']} s")
    for line in summary_lines(report):
        print(line, flush=True)
    return 0


def summary_lines(report):
    """The short table printed last (the device tool's reply shows the end of the output)."""
    lines = ["=" * 30 + " lease summary " + "=" * 30]
    env = report.get("environment") or {}
    lines.append(f"device: {env.get('device_kind')}; jax {env.get('jax')}, keras "
                 f"{env.get('keras')}, torch {env.get('torch')}")
    for key, bench in sorted((report.get("bench") or {}).items()):
        if "peers" not in bench:
            lines.append(f"bench {key}: {bench.get('error')}")
            continue
        cells = []
        for name, peer in bench["peers"].items():
            if peer.get("status") == "ok":
                cells.append(f"{name} {peer['ms_per_step']:.3f} ms ({peer['images_per_second']:.0f} img/s)")
            else:
                cells.append(f"{name} {peer.get('status')}")
        lines.append(f"bench {key}: " + "; ".join(cells))
    training = report.get("training")
    if training:
        lines.append(f"training: D step {training['d_step']} of {training['steps']} "
                     f"(+{training['d_steps_this_call']} this call, steady "
                     f"{training.get('steady_ms_per_d_step')} ms per D step, first step "
                     f"{training.get('first_step_seconds')} s)")
    for call in report.get("calls", [])[-1:]:
        lines.append("phases (s): " + ", ".join(f"{k} {v['seconds']}"
                                                for k, v in call["phases"].items()))
    curve = report.get("fid_curve") or []
    if curve:
        lines.append("FID curve: " + ", ".join(f"{p['d_step']}: {p['fid']:.2f}" for p in curve))
    record = report.get("eval")
    if record:
        fid = record.get("metrics", {}).get("fid", {})
        lines.append(f"eval: FID {fid.get('mean', float('nan')):.3f} +- "
                     f"{fid.get('std', float('nan')):.3f} at D step "
                     f"{(record.get('lease', {}).get('checkpoint') or {}).get('d_step')} "
                     f"({record['protocol'].get('n_generated')} generated vs "
                     f"{record['protocol'].get('n_real')} real, "
                     f"{record['protocol'].get('sample_sets')} sets)")
    lines.append(f"returned: {', '.join(report.get('returned', []))}")
    lines.append(f"next: {report.get('next')}")
    return lines


def _next_step(report, status_now):
    if status_now["carry_next"]:
        return f"carry {json.dumps(status_now['carry_next'])} and run benchmarks/lease.sh again"
    training = report.get("training") or {}
    if training and not training.get("complete"):
        return ("training stopped at its budget (d_step "
                f"{training.get('d_step')} of {training.get('steps')}): run benchmarks/lease.sh "
                "again to resume, or stop here")
    if "eval" not in report:
        return "run benchmarks/lease.sh --eval yes to evaluate"
    return "done: give the machine back and join the files here (lease.py join)"


_BLOCK_TF = (
    "import sys\n"
    "class _BlockTensorFlow:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in ('tensorflow', 'tensorflow_datasets'):\n"
    "            raise ImportError('blocked (the lease machine has no TensorFlow): ' + name)\n"
    "sys.meta_path.insert(0, _BlockTensorFlow())\n"
)


def cmd_check(args):
    """Pre-flight on this machine, TensorFlow blocked from import as on the device: the lease's
    modules import; with --train, one tiny `call` (synthetic data, no benchmark or evaluation)
    trains, stops, resumes and packs. Run it just before a lease: the core changes often."""
    env = dict(os.environ, KERAS_BACKEND="jax")
    code = _BLOCK_TF + (
        f"sys.path[:0] = [{str(HERE)!r}, {str(REPO)!r}]\n"
        "import lease_train, lease_bench, ganzoo.gan, ganzoo.callbacks, ganzoo.checkpoint\n"
        "import ganzoo.metrics.evaluator, ganzoo.metrics.inception, ganzoo.metrics.fid\n"
        "import ganzoo.data, ganzoo.architectures, ganzoo.zoo.manifest\n"
        "print('ok: the lease path imports without TensorFlow')\n")
    code_rc = subprocess.run([sys.executable, "-c", code], env=env).returncode
    if code_rc or not args.train:
        return code_rc
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lease-check-") as temp:
        temp = pathlib.Path(temp)
        for steps in (2, 4):  # a run, then its resumption to a later step
            argv = ["call", "--home", str(temp / "home"), "--out", str(temp / "out"),
                    "--payload_root", str(temp / "none"), "--dataset", "synthetic:32",
                    "--resolution", "8", "--batch_size", "4", "--steps", str(steps),
                    "--bench", "no", "--eval", "no", "--log_every", "1", "--snapshot_every", "2",
                    "--call_minutes", "9"]
            run = _BLOCK_TF + (f"sys.path[:0] = [{str(HERE)!r}, {str(REPO)!r}]\n"
                               f"import lease\nsys.exit(lease.main({argv!r}))\n")
            rc = subprocess.run([sys.executable, "-c", run], env=env).returncode
            if rc:
                return rc
        report = json.loads((temp / "out" / "report.json").read_text())
        training = report["training"]
        if (training["initial_d_step"], training["d_step"]) != (2, 4) or len(
                list((temp / "out").iterdir())) > OUT_MAX_FILES:
            log(f"check failed: {training['initial_d_step']} -> {training['d_step']}")
            return 1
        join(temp / "out", temp / "joined")
    log("ok: a tiny run trains, resumes and packs without TensorFlow")
    return 0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("wheels", help="download the wheels the device lacks into .whl/")
    p.set_defaults(func=cmd_wheels)
    p = sub.add_parser("prepare", help="build the carried chunks .lease/c1 and .lease/c2")
    p.add_argument("--data", default=str(DEFAULT_DATA), help="folder with train.tar and test.tar")
    p.add_argument("--inception", default=f"~/.cache/ganzoo/inception/{INCEPTION_NAME}")
    p.add_argument("--no-wheels", action="store_true")
    p.add_argument("--margin_mib", type=float, default=3.0,
                   help="room left in each call for files others add to the tree meanwhile")
    p.set_defaults(func=cmd_prepare)
    p = sub.add_parser("aside", help="move the published weights out of the working tree "
                                     "for the lease (every call would carry them)")
    p.set_defaults(func=cmd_aside)
    p = sub.add_parser("restore", help="bring back what `aside` moved")
    p.set_defaults(func=cmd_restore)
    p = sub.add_parser("check", help="pre-flight: the lease path imports without TensorFlow")
    p.add_argument("--train", action="store_true",
                   help="also train, resume and pack a tiny run (a few minutes on this CPU)")
    p.set_defaults(func=cmd_check)
    for name, func in (("status", cmd_status), ("stage", cmd_stage)):
        p = sub.add_parser(name)
        p.add_argument("--home")
        p.set_defaults(func=func)
    p = sub.add_parser("join", help="here: verify and join the files a call brought back")
    p.add_argument("files", help="the folder the files came back to")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_join)

    p = sub.add_parser("call", help="on the device: one call of the lease (benchmarks/lease.sh)")
    p.add_argument("--home", help=f"persistent folder (default ${HOME_ENV} or /root/lease)")
    p.add_argument("--out", help="where the returned files go (default $OUT)")
    p.add_argument("--payload_root", default=str(REPO),
                   help="the folder holding the carried .lease/c* chunks (default: the checkout)")
    p.add_argument("--call_minutes", type=float, default=8.0,
                   help="wall time of this whole call, from lease.sh's start (at most 9.5: "
                        "a command may run 10 minutes)")
    p.add_argument("--budget_left_s", type=float, default=None,
                   help="instead of --call_minutes: the session's device time left (the last "
                        "reply's lease.budget_left_s); the call then takes it less 75 s for "
                        "the gap, the transfers and give_back, at most 9.5 minutes")
    p.add_argument("--minutes", type=float, default=None,
                   help="cap on the training phase of this call")
    p.add_argument("--config", default=DEFAULT_CONFIG)
    p.add_argument("--dataset", default="cifar10", help="cifar10 (staged) or synthetic:N (tests)")
    p.add_argument("--steps", type=int, default=None, help="D steps of the run (default: recipe)")
    p.add_argument("--ema_decay", type=float, default=None,
                   help="keep an EMA copy of G (e.g. 0.999) beside the recipe's generator; both "
                        "come back and are evaluated (a resumed call keeps the run's setting)")
    p.add_argument("--batch_size", type=int, default=None, help="override (tiny runs only)")
    p.add_argument("--resolution", type=int, default=None, help="override (tiny runs only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint_every", type=int, default=20000)
    p.add_argument("--log_every", type=int, default=1000)
    p.add_argument("--sample_every", type=int, default=50000)
    p.add_argument("--snapshot_every", type=int, default=25000,
                   help="keep the generator every N D steps, for the FID curve; 0: off")
    p.add_argument("--fid_curve_samples", type=int, default=5000,
                   help="FID curve over the snapshots (N generated vs N test images, as "
                        "train.py's --fid_every) in the call that evaluates; 0: off")
    p.add_argument("--curve_reserve_s", type=float, default=45.0,
                   help="time kept for the FID curve after training")
    p.add_argument("--inception_batch", type=int, default=50)
    p.add_argument("--eval", choices=("auto", "yes", "no"), default="auto",
                   help="auto: when the Inception weights and test images are staged")
    p.add_argument("--eval_samples", type=int, default=None,
                   help="per sample set (default: the protocol's 10,000); small = not the protocol")
    p.add_argument("--eval_sets", type=int, default=3)
    p.add_argument("--eval_metrics", default="fid")
    p.add_argument("--eval_reserve_s", type=float, default=90.0,
                   help="time kept for the evaluation after training")
    p.add_argument("--pack_reserve_s", type=float, default=20.0)
    p.add_argument("--min_train_s", type=float, default=45.0,
                   help="skip training when less than this is left before the reserves (it "
                        "would spend the time on loading, restoring and compiling)")
    p.add_argument("--bench", choices=("auto", "yes", "no"), default="auto",
                   help="auto: once per lease (when no result is in the persistent folder)")
    p.add_argument("--bench_batch_sizes", default="64,256")
    p.add_argument("--bench_peers", default="ganzoo_jax,torch_eager",
                   help="train_step.py peers (torch_compile: add it if the call has time)")
    p.add_argument("--bench_warmup", type=int, default=10)
    p.add_argument("--bench_steps", type=int, default=50)
    p.add_argument("--bench_repeats", type=int, default=5)
    p.add_argument("--bench_max_s", type=float, default=180.0,
                   help="the benchmark's time limit (both batch sizes); skipped when the call "
                        "has less than this + 60 s left")
    p.set_defaults(func=cmd_call)
    return parser.parse_args(argv)


def main(argv=None):
    sys.path.insert(0, str(HERE))
    sys.path.insert(1, str(REPO))
    args = parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
