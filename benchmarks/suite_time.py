"""Time the test suite of an earlier commit beside today's, test by test, and print the ratios.

    python benchmarks/suite_time.py                            # b431119 vs the working tree, TF
    python benchmarks/suite_time.py --baseline b431119 --backends tensorflow,jax --out runs/suite
    python benchmarks/suite_time.py --select manifest          # a pytest -k expression, both trees

The question it answers: is the suite slower than before a redesign ("One place per concept"
was filed against b431119, the foundation's last commit)? Today's suite holds many tests that
did not exist then, so its total alone cannot say; the comparison that can is over the tests
both suites hold. A test is the same test when its name (parameters included) and its module's
file name agree (tests moved from tests/ to tests/unit/ and tests/integration/), or, failing
that, when its name is unique in both suites.

The baseline is checked out with `git worktree add` into a temporary folder that this script
creates and removes (nothing else is touched). Each suite runs as the README says,
`python -m pytest -q tests`, in its own tree, with PYTHONPATH pointing at that tree so that its
own ganzoo is imported (also by the subprocesses its tests start) whatever is pip-installed.
The two runs are sequential in one invocation, per backend in the order given by --order;
the load average before and after each run is printed, since a run beside other work is slower.
Each run's JUnit XML is kept under --out.
"""
import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run_suite(tree, backend, xml_path, timeout, select=None):
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=tree)
    # The baseline's tree is not beside ../shared: both runs read the one CIFAR10 copy.
    env.setdefault("GANZOO_CIFAR10_DIR", os.path.join(os.path.dirname(ROOT), "shared", "data",
                                                      "cifar10-jpeg"))
    load = os.getloadavg()[0]
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"--junitxml={xml_path}", "tests"] + (["-k", select] if select else []),
                          cwd=tree, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=timeout)
    wall = time.monotonic() - began
    summary = [line for line in done.stdout.splitlines() if line.strip()][-1:]
    return {"wall_s": wall, "load_before": load, "load_after": os.getloadavg()[0],
            "rc": done.returncode, "summary": summary[0] if summary else ""}


def read_junit(path):
    """{(module file name, test name): (seconds, outcome)} from a pytest JUnit XML file."""
    tests = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        # classname is "tests.unit.test_x" or "tests.unit.test_x.TestClass"
        file_part = next((part for part in reversed(module) if part.startswith("test_")), "")
        klass = module[-1] if module and not module[-1].startswith("test_") else ""
        name = f"{klass}::{case.get('name')}" if klass else case.get("name")
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
        tests[(file_part, name)] = (float(case.get("time", 0.0)), outcome)
    return tests


def match(before, after):
    """Pairs of keys (before, after) that are the same test; see the module docstring."""
    pairs = [(key, key) for key in before if key in after]
    taken_b = {b for b, _ in pairs}
    taken_a = {a for _, a in pairs}
    by_name_b = collections.defaultdict(list)
    by_name_a = collections.defaultdict(list)
    for key in before:
        if key not in taken_b:
            by_name_b[key[1]].append(key)
    for key in after:
        if key not in taken_a:
            by_name_a[key[1]].append(key)
    for name, keys in by_name_b.items():
        if len(keys) == 1 and len(by_name_a.get(name, ())) == 1:
            pairs.append((keys[0], by_name_a[name][0]))
    return pairs


def compare(before, after, top=12):
    pairs = [(b, a) for b, a in match(before, after)
             if before[b][1] == "passed" and after[a][1] == "passed"]
    sum_b = sum(before[b][0] for b, _ in pairs)
    sum_a = sum(after[a][0] for _, a in pairs)
    deltas = sorted(((after[a][0] - before[b][0], b, a) for b, a in pairs), reverse=True)
    matched_after = {a for _, a in pairs}
    new = [key for key, (_, outcome) in after.items() if key not in matched_after and outcome == "passed"]
    return {
        "tests_before": len(before), "tests_after": len(after), "common_passed": len(pairs),
        "common_s_before": sum_b, "common_s_after": sum_a,
        "common_ratio": sum_a / sum_b if sum_b else float("nan"),
        "all_s_before": sum(t for t, _ in before.values()),
        "all_s_after": sum(t for t, _ in after.values()),
        "new_tests": len(new), "new_s": sum(after[key][0] for key in new),
        "slower": [(f"{b[0]}::{b[1]}", before[b][0], after[a][0]) for _, b, a in deltas[:top]],
        "faster": [(f"{b[0]}::{b[1]}", before[b][0], after[a][0]) for _, b, a in deltas[::-1][:top]],
        "failed_before": sorted(f"{k[0]}::{k[1]}" for k, v in before.items() if v[1] == "failed"),
        "failed_after": sorted(f"{k[0]}::{k[1]}" for k, v in after.items() if v[1] == "failed"),
    }


def _print(backend, runs, result):
    print(f"\n== {backend}")
    for label, run in runs.items():
        print(f"{label:>9}: wall {run['wall_s']:7.0f} s, load {run['load_before']:.1f} -> "
              f"{run['load_after']:.1f}, rc {run['rc']}, {run['summary']}")
    print(f"tests: {result['tests_before']} before, {result['tests_after']} now; "
          f"{result['common_passed']} the same and passing in both")
    print(f"the common tests: {result['common_s_before']:.0f} s before, "
          f"{result['common_s_after']:.0f} s now, ratio now/before {result['common_ratio']:.3f}")
    print(f"tests new since: {result['new_tests']}, {result['new_s']:.0f} s")
    print("most slowed (before s -> now s):")
    for name, b, a in result["slower"]:
        print(f"  {b:7.1f} -> {a:7.1f}  {name}")
    print("most sped up:")
    for name, b, a in result["faster"]:
        print(f"  {b:7.1f} -> {a:7.1f}  {name}")
    for label in ("failed_before", "failed_after"):
        if result[label]:
            print(f"{label}: {', '.join(result[label])}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="b431119", help="commit to compare with")
    parser.add_argument("--backends", default="tensorflow", help="comma-separated")
    parser.add_argument("--order", choices=("baseline-first", "now-first"), default="baseline-first")
    parser.add_argument("--out", default="runs/suite_time", help="JUnit XML files and results.json")
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds per suite run")
    parser.add_argument("--select", default=None,
                        help="a pytest -k expression applied to both suites (default: all tests)")
    args = parser.parse_args(argv)

    os.makedirs(args.out, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="ganzoo-suite-time-")
    baseline = os.path.join(scratch, "baseline")
    subprocess.run(["git", "worktree", "add", "--detach", baseline, args.baseline], cwd=ROOT,
                   check=True, stdout=subprocess.DEVNULL)
    results = {}
    try:
        for backend in args.backends.split(","):
            trees = {"baseline": baseline, "now": ROOT}
            order = list(trees) if args.order == "baseline-first" else list(trees)[::-1]
            runs = {}
            for label in order:
                xml_path = os.path.abspath(os.path.join(args.out, f"{backend}-{label}.xml"))
                runs[label] = _run_suite(trees[label], backend, xml_path, args.timeout, args.select)
            result = compare(read_junit(os.path.join(args.out, f"{backend}-baseline.xml")),
                             read_junit(os.path.join(args.out, f"{backend}-now.xml")))
            results[backend] = {"runs": runs, **result}
            _print(backend, runs, result)
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", baseline], cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(scratch, ignore_errors=True)
    with open(os.path.join(args.out, "results.json"), "w") as handle:
        json.dump({"baseline": args.baseline, "results": results}, handle, indent=1)


if __name__ == "__main__":
    main()
