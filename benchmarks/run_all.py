"""Run every benchmark in turn, with its defaults, and print their figures (~5 minutes).

    python benchmarks/run_all.py                     # all of them
    python benchmarks/run_all.py --only slack widget # some of them, by name
    python benchmarks/run_all.py --list              # their names and what each measures

Each runs as its own process, as if started by hand (`python benchmarks/bench_<name>.py`),
one after the other so that none takes CPU from another. A benchmark that fails is reported
and the others still run; the exit status says whether all of them finished. The results,
with date and machine, are kept in `docs/PERFORMANCE.md`.
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: name -> what it measures (the script is `bench_<name>.py`), in the order they run.
BENCHMARKS = {
    "core": "service answer steps, memory with 100k conversations, re-scoring 100k leads",
    "dispatch": "a DM answer through Bolt in one process",
    "slack": "the Slack ack path over HTTP against a bare Bolt app (issue 3)",
    "handoff_burst": "20 handoffs to one channel: pacing, no 429 (issue 3)",
    "widget": "the widget's message round trip over HTTP, 50 sessions (issue 4)",
    "migration": "migration 0005 on a SQLite database with 100k leads",
    "readers": "the answer readers: typical answers and the slowest long ones",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", choices=sorted(BENCHMARKS),
                        help="run only these (see --list)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    args = parser.parse_args()
    if args.list:
        for name, what in BENCHMARKS.items():
            print(f"{name:<14} {what}")
        return 0
    names = [name for name in BENCHMARKS if not args.only or name in args.only]
    machine = platform.processor() or platform.machine()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} ({machine}), "
          f"Python {platform.python_version()}", flush=True)
    failed: list[str] = []
    for name in names:
        script = HERE / f"bench_{name}.py"
        print(f"\n== {name}: {BENCHMARKS[name]} (python benchmarks/{script.name})", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)])
        took = time.perf_counter() - started
        if code != 0:
            failed.append(name)
            print(f"== {name} FAILED (exit status {code}) after {took:.0f} s", flush=True)
        else:
            print(f"== {name} done in {took:.0f} s", flush=True)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
        return 1
    print(f"\nall {len(names)} finished")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
