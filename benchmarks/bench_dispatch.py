"""DM answers through Bolt in one process (issue 3): the cost of the dispatch alone, without
HTTP, and in instructions, which do not drift with the host.

`App.dispatch` of correctly signed `message.im` events answering open BANT conversations, on
a fresh SQLite file with the WAL checkpoints running in the background as in the server, in
one thread pinned to one core. Each conversation gets the five answers of `bench_slack.py`
in order, so every fifth answer completes it (scores the lead and enqueues the handoff
notice).

    python benchmarks/bench_dispatch.py [--answers 4000]     # µs per answer, wall and CPU
    python benchmarks/bench_dispatch.py --instructions        # instructions per answer

`--instructions` runs this script twice under `valgrind --tool=callgrind` (500 and 1,500
answers after the same set-up, without the background checkpoints, whose number would depend
on the time taken) and prints the difference per answer: within 0.5% from run to run of the
same code, however busy or fast the machine, so that a change of a few percent can be told
from the host's drift (which reaches ±15% within a minute on a shared VM). It takes a few
minutes.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt import App, BoltRequest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # this checkout's code, not an installed copy from elsewhere
    sys.path.insert(0, str(ROOT))

# the same answers and secret as the HTTP benchmark's
from benchmarks.bench_slack import BANT_ANSWERS, SECRET, bench_env, prepare

#: Conversations opened (enough for 1,500 answers plus the warm-up): the same set-up
#: whatever the number of answers, so that two runs differ only in the answers.
FIXED_CONVERSATIONS = 320
WARM_UP = 20


def run(answers: int, conversations: int, *, checkpoints: bool = True) -> tuple[float, float]:
    """Answer `answers` times; (wall, CPU) seconds of the answers alone. `checkpoints`: the
    server's background WAL checkpoints (every 0.25 s) run meanwhile."""
    from slack_bolt import BoltRequest

    from bot.background import WalCheckpoints
    from bot.config import Settings
    from bot.runtime import build_runtime
    from bot.server import freeze_startup_heap
    from bot.slack.app import create_bolt_app
    from tests.fakeslack import FakeSlack, Workspace
    from tests.slackreq import SlackRequests

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    folder = Path(tempfile.mkdtemp(prefix="qualibot-dispatch-"))
    with FakeSlack() as fake:
        env = bench_env(folder, fake)
        for name in set(os.environ) - set(env):  # OAuth and Socket Mode variables
            del os.environ[name]
        users = [f"U{n:09d}" for n in range(conversations)]
        prepare(env, users)  # one open BANT conversation each (sets os.environ to env)
        settings = Settings(_env_file=None)
        runtime = build_runtime(settings)
        app = create_bolt_app(settings, runtime)
        if app is None:
            raise SystemExit("the Slack app was not built: check the SLACK_* variables")
        slack = SlackRequests(signing_secret=SECRET, workspace=Workspace())
        # each conversation's answers in order, conversation after conversation
        requests = [
            BoltRequest(body=signed.body, headers={**signed.headers})
            for answer in BANT_ANSWERS
            for user in users
            for signed in [slack.message_im(answer, user_id=user)]
        ]
        if len(requests) < WARM_UP + answers:
            raise SystemExit(f"at most {len(requests) - WARM_UP} answers with "
                             f"{conversations} conversations")
        background = WalCheckpoints(runtime.engine)
        if checkpoints:
            background.start()
        try:
            for request in requests[:WARM_UP]:  # the first one learns the token's team
                _answer(app, request)
            freeze_startup_heap()  # as `qualibot serve` does
            wall, cpu = time.perf_counter(), time.process_time()
            for request in requests[WARM_UP:WARM_UP + answers]:
                _answer(app, request)
            return time.perf_counter() - wall, time.process_time() - cpu
        finally:
            background.stop()
            runtime.close()
            shutil.rmtree(folder, ignore_errors=True)


def _answer(app: App, request: BoltRequest) -> None:
    response = app.dispatch(request)
    if response.status != 200:
        raise SystemExit(f"an answer got {response.status}: {response.body}")


def instructions(answers: int) -> int:
    """Instructions the process executed, under callgrind (`--child` runs do the work)."""
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, __file__, "--child", str(answers),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}  # the same hashing on every run
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--answers", type=int, default=4000,
                        help="answers to time (default 4000)")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions per answer under valgrind (minutes)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        # no background checkpoints: how many run would depend on the time taken (SQLite's
        # own, at the safety net's WAL size, come at the same answers every run)
        run(args.child, FIXED_CONVERSATIONS, checkpoints=False)
        return
    if args.instructions:
        if shutil.which("valgrind") is None:
            raise SystemExit("--instructions needs valgrind (Debian: apt-get install valgrind)")
        few, many = 500, 1500
        counted = {n: instructions(n) for n in (few, many)}
        per_answer = (counted[many] - counted[few]) / (many - few)
        print(f"DM answer through App.dispatch: {per_answer:,.0f} instructions per answer "
              f"({counted[few]:,} for {few} answers, {counted[many]:,} for {many}, "
              "the same set-up)")
        return
    conversations = (args.answers + WARM_UP) // len(BANT_ANSWERS) + 1
    wall, cpu = run(args.answers, conversations)
    print(f"DM answer through App.dispatch, {args.answers} answers, one thread: "
          f"{wall / args.answers * 1e6:.0f} µs wall, {cpu / args.answers * 1e6:.0f} µs CPU "
          "per answer")


if __name__ == "__main__":
    main()
