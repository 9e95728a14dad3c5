"""Answer readers: how long reading one answer takes, for the answers people type and for the
worst a visitor could send (issues 3 and 4: every reading runs on the answer's request).

- *typical*: every quoted example of every built-in question's hint, read by that question's
  reader, many times: the mean per reading.
- *worst case*: answers of the longest length each question takes (2,000 characters for the
  frameworks' questions, 200 to 320 for the widget's contact details) made of one short piece
  repeated ("----", ", , ,", "1,000" ...), with and without a word in front, read by every
  reader: the slowest. A regular expression that tries a long run from
  each of its characters takes time quadratic in the length; this finds such ones.

    python benchmarks/bench_readers.py [--length 2000]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from flows.contact import contact_questions
from flows.definitions import Question, load_frameworks
from flows.engine import Flow
from flows.parsing import parse_answer

PIECES = ["a", "1", "1,000", "1.", "a@", "a.", "@a", "-", "a-", " ", "a ", "1 ", "$1", "1k",
          ",", ", ", ".", "'", "the ", "my ", "cfo ", "over 1", "up to ", "q1 ", "by ",
          "next ", "and ", "no ", "not ", "sign off ", "with ", "i'm ", "ceo's ", "$", "€1,",
          "1/", "x", "é", "a-b ", "a.b", "www.", "(a", "a)", ":", ";", "!", "?", "a\n", "per "]
PREFIXES = ["", "x", "about ", "$"]
TODAY = date(2026, 12, 7)


def questions() -> list[Question]:
    out = contact_questions()
    for framework in load_frameworks().values():
        out.extend(Flow(framework).questions)
    return out


def read(question: Question, text: str) -> float:
    started = time.perf_counter()
    parse_answer(question.type, text, today=TODAY, choices=question.choices)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--length", type=int, help="characters (worst case; default: each "
                        "question's own limit)")
    parser.add_argument("--repeat", type=int, default=200, help="readings per example")
    args = parser.parse_args()
    every = questions()
    by_type: dict[str, list[float]] = {}
    for question in every:
        for example in question.examples:
            times = [read(question, example) for _ in range(args.repeat)]
            by_type.setdefault(question.type, []).append(sum(times) / len(times))
    print("typical: the hints' examples, mean per reading")
    for kind, means in sorted(by_type.items()):
        print(f"  {kind:<10} {len(means):>3} examples  mean {sum(means) / len(means) * 1e6:7.1f} µs"
              f"  slowest example {max(means) * 1e6:7.1f} µs")
    one_per_type = {q.type: q for q in every}
    worst: list[tuple[float, str, int, str]] = []
    for piece in PIECES:
        for prefix in PREFIXES:
            for kind, question in one_per_type.items():
                length = args.length or question.validation.max_length
                text = (prefix + piece * (length // len(piece) + 1))[:length]
                worst.append((read(question, text), kind, length, text[:16]))
    worst.sort(reverse=True)
    print(f"worst case: {len(worst)} readings of answers as long as allowed; slowest:")
    for seconds, kind, length, start in worst[:5]:
        print(f"  {kind:<10} {seconds * 1000:7.1f} ms  {length:,} characters {start!r}...")


if __name__ == "__main__":
    main()
