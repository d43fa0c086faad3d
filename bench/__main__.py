"""``python -m bench [NAME ...] [--quick] [--doc PATH]``: run benchmarks, fill in their numbers.

A NAME is a module here with ``PARAMS`` (sizes, ``repeat``), ``QUICK`` (small sizes), ``RATIOS``
({key: (numerator, denominator)}) and, asv-style, a class ``Benchmark``: ``setup``; ``time_<key>``
(``time_<key>(param)`` for each of its ``params``) run ``repeat`` times (or its own ``repeat``) in
interleaved rounds, for the median, ``_min`` and ``_max`` (a float it returns is what it measured
itself); ``track_<key>(results)``, a dict (nested keys joined by ``_``); ``teardown``. A result
replaces the text between ``<!--n:NAME.KEY:FORMAT-->`` (a format spec, optional; ``ms`` first
for seconds in ms) and ``<!--/n-->``."""

import argparse
import functools
import importlib
import os
import platform
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "benchmarks.md"
NAMES = [path.stem for path in sorted(HERE.glob("*.py")) if "\nclass Benchmark" in path.read_text()]
MARKER = re.compile(r"(<!--n:([a-z0-9_]+)\.(\w+)(?::([^>]*))?-->).*?<!--/n-->", re.S)


def methods(bench: object, prefix: str) -> list[tuple[str, object]]:
    found = []
    for name in [name for name in vars(type(bench)) if name.startswith(prefix)]:
        method, key = getattr(bench, name), name.removeprefix(prefix)
        params = getattr(method, "params", ())
        found += [(f"{key}_{p}", functools.partial(method, p)) for p in params] or [(key, method)]
    return found


def time_all(bench: object, repeat: int) -> dict:
    timed = methods(bench, "time_")
    runs = {key: getattr(getattr(call, "func", call), "repeat", repeat) for key, call in timed}
    samples: dict[str, list[float]] = {key: [] for key in runs}
    for round_ in range(max(runs.values(), default=0)):
        # Rotated, so that no method always runs first, or right after the same other one.
        for key, call in timed[round_ % len(timed) :] + timed[: round_ % len(timed)]:
            if len(samples[key]) < runs[key]:
                start, measured = time.perf_counter(), call()
                elapsed = time.perf_counter() - start
                samples[key].append(measured if isinstance(measured, float) else elapsed)
                print(f"  {key}: {samples[key][-1]:.4g} s", flush=True)
    stats = {"": np.median, "_min": min, "_max": max}.items()
    return {key + end: float(f(values)) for key, values in samples.items() for end, f in stats}


def flatten(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        nested = isinstance(value, dict)
        flat |= flatten(value, f"{prefix}{key}_") if nested else {prefix + key: value}
    return flat


def run(module, params: dict) -> dict:
    bench = module.Benchmark()
    bench.setup(params)
    try:
        results = params | time_all(bench, params.get("repeat", 1))
        for _, track in methods(bench, "track_"):
            results |= flatten(track(results))
    finally:
        getattr(bench, "teardown", lambda: None)()
    for key, (numerator, denominator) in getattr(module, "RATIOS", {}).items():
        results[key] = results[numerator] / results[denominator]
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    return results | {"measured": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine}"}


def fill(doc: Path, name: str, results: dict) -> None:
    """Replace this benchmark's numbers in ``doc``, and name its markers left without one."""

    def replace(match: re.Match) -> str:
        opening, module, key, spec = match.groups(default="")
        if module != name or key not in results:
            return match[0]
        value = results[key] * 1e3 if spec.startswith("ms") else results[key]
        return f"{opening}{value:{spec.removeprefix('ms')}}<!--/n-->"

    text = doc.read_text()
    missing = {match[3] for match in MARKER.finditer(text) if match[2] == name} - results.keys()
    doc.write_text(MARKER.sub(replace, text))
    print(f"filled {name} in {doc}" + (f"; no value for {sorted(missing)}" if missing else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(NAMES))
    parser.add_argument("--quick", action="store_true", help="small sizes; no document")
    parser.add_argument("--doc", type=Path, help=f"the document to fill (default {DOC})")
    args = parser.parse_args()
    if unknown := set(args.names) - set(NAMES):
        parser.error(f"unknown benchmarks: {sorted(unknown)}")
    if len(names := args.names or NAMES) > 1:  # one process each: Django is set up once in one
        flags = ["--quick"] * args.quick + [f"--doc={args.doc}"] * bool(args.doc)
        done = [subprocess.run([sys.executable, "-m", "bench", n, *flags]) for n in names]
        return max(process.returncode for process in done)
    module = importlib.import_module(f"bench.{names[0]}")
    results = run(module, module.PARAMS | (module.QUICK if args.quick else {}))
    print("\n".join(f"{names[0]}.{key} = {value}" for key, value in results.items()))
    if args.doc or not args.quick:
        fill(args.doc or DOC, names[0], results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
