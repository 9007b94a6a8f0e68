"""Runs every benchmark in bench/ and rewrites bench/results/README.md.

Each `bench/<name>.py` writes `bench/results/<name>.md` (its own table) and
`bench/results/<name>.json` with at least: name, baseline, ratio, goal,
passed, machine. This script runs them one after another (they measure
side by side inside one process each) and gathers the JSON files into one
table. `python bench/run_all.py --collect` only rebuilds the table.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")


def _run(scripts: list[str]) -> list[str]:
    failed = []
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(HERE), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    for script in scripts:
        print(f"== {os.path.basename(script)}", flush=True)
        if subprocess.run([sys.executable, script], env=env).returncode:
            failed.append(script)
    return failed


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def collect() -> str:
    rows = []
    own_tables = []
    for path in sorted(glob.glob(os.path.join(RESULTS, "*.json"))):
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
        entries = entries if isinstance(entries, list) else [entries]
        if not any("ratio" in r for r in entries):
            # Several ratios and goals: the benchmark's own table says them.
            name = os.path.splitext(os.path.basename(path))[0]
            own_tables.append(f"[{name}]({name}.md)")
            continue
        for r in entries:
            rows.append(
                "| {} | {} | {} | {} | {} | {} |".format(
                    r.get("name", os.path.basename(path)),
                    r.get("baseline", ""),
                    _fmt(r.get("ratio", "")),
                    r.get("goal", ""),
                    "yes" if r.get("passed") else "no",
                    r.get("machine", ""),
                )
            )
    text = "\n".join(
        [
            "# Benchmark results",
            "",
            "Written by `make bench` (`bench/run_all.py`). Each benchmark "
            "measures imagehub and its baseline side by side in one run; "
            "details are in the `<name>.md` file beside this one.",
            "",
            "| benchmark | baseline | ratio | goal | goal met | machine |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "With a table of their own (several models, engines or goals): "
            + ", ".join(own_tables)
            + ".",
            "",
        ]
    )
    with open(os.path.join(RESULTS, "README.md"), "w", encoding="utf-8") as f:
        f.write(text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--collect", action="store_true", help="only rebuild the table"
    )
    parser.add_argument("names", nargs="*", help="benchmarks to run")
    args = parser.parse_args()
    failed: list[str] = []
    if not args.collect:
        scripts = sorted(
            p
            for p in glob.glob(os.path.join(HERE, "*.py"))
            if not os.path.basename(p).startswith(("_", "run_all"))
            and (not args.names or os.path.basename(p)[:-3] in args.names)
        )
        failed = _run(scripts)
    print(collect())
    if failed:
        print("failed:", ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
