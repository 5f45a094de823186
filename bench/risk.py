"""Benchmark the risk analyser: check_command over the corpora, check_exec over the
exec cases, and (when installed) tree-sitter-bash's parser next to bashlex's.

Run: ``.venv/bin/python bench/risk.py [--rounds R] [--json]``. Prints a table; with
``--json`` the last line is one JSON object. The commands are only parsed, never run.

The parser rows compare *parsing alone* on the same commands: bashlex as the
analyser uses it (with the rewrites of ``_shellscan`` for what it cannot read)
and, if the ``tree-sitter`` and ``tree-sitter-bash`` packages are importable,
tree-sitter-bash (counted as parsed when its tree has no ERROR node). See
docs/security.md, "Parser", for the decision this measures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))

from center.security import check_command, check_exec  # noqa: E402
from center.security._walk import _parse  # noqa: E402

CORPUS = ROOT / "tests" / "security" / "corpus"


def _commands() -> list[str]:
    out: list[str] = []
    for name in ("dangerous", "everyday"):
        doc = tomllib.loads((CORPUS / f"{name}.toml").read_text("utf-8"))
        out += [c for spec in doc.values() for c in spec["commands"]]
    return out


def _timed(fn: Callable[[Any], Any], items: list[Any], rounds: int) -> list[float]:
    samples: list[float] = []
    for _ in range(rounds):
        for item in items:
            t0 = time.perf_counter()
            fn(item)
            samples.append(time.perf_counter() - t0)
    return samples


def _row(name: str, samples: list[float], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    ordered = sorted(samples)
    return {
        "what": name,
        "n": len(samples),
        "median_us": round(statistics.median(ordered) * 1e6, 1),
        "p99_us": round(ordered[int(len(ordered) * 0.99) - 1] * 1e6, 1),
        "max_us": round(ordered[-1] * 1e6, 1),
        **(extra or {}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    commands = _commands()
    cases = tomllib.loads((CORPUS / "exec.toml").read_text("utf-8"))["case"]
    rows = [
        _row("check_command (corpora)", _timed(check_command, commands, args.rounds)),
        _row(
            "check_exec (exec cases)",
            _timed(
                lambda c: check_exec(c["argv"], stdin=c.get("stdin"), env=c.get("env"), files=c.get("files")),
                cases,
                args.rounds,
            ),
        ),
    ]
    parsed = sum(_parse(c)[0] is not None for c in commands)
    rows.append(_row("parse: bashlex + rewrites", _timed(_parse, commands, args.rounds),
                     {"parsed": parsed, "of": len(commands)}))  # fmt: skip
    try:
        import tree_sitter_bash
        from tree_sitter import Language, Parser
    except ImportError:
        rows.append({"what": "parse: tree-sitter-bash", "skipped": "tree-sitter / tree-sitter-bash not installed"})
    else:
        ts = Parser(Language(tree_sitter_bash.language()))
        ok = sum(not ts.parse(c.encode()).root_node.has_error for c in commands)
        rows.append(_row("parse: tree-sitter-bash", _timed(lambda c: ts.parse(c.encode()), commands, args.rounds),
                         {"parsed": ok, "of": len(commands)}))  # fmt: skip

    # Worst cases: large synthetic inputs built to hit slow paths (each must stay bounded:
    # the center checks a job inline). Harmless text; only analysed.
    worst = {
        "shell: 50,000-stage pipeline": (["sh", "-c", "a|" * 50_000 + "a"], None),
        "shell: 60,000 commands": (["sh", "-c", "ls;" * 60_000], None),
        "shell: 100,000 words": (["sh", "-c", "echo " + "a " * 100_000], None),
        "python: 22,000 calls": (["python3", "/tmp/s"], "print(1)\n" * 22_000),
        "perl: 14,000 system()": (["perl", "/tmp/s"], "system('ls');\n" * 14_000),
        "node: 20,000 open calls": (["node", "/tmp/s"], "exec(" * 20_000),
        "perl: 100,000-part concatenation": (["perl", "/tmp/s"], "$x = " + "a." * 100_000 + ";"),
    }
    for label, (argv, body) in worst.items():
        files = {"/tmp/s": body} if body is not None else None
        t0 = time.perf_counter()
        verdict = check_exec(argv, files=files)
        took = time.perf_counter() - t0
        rows.append({"what": "worst: " + label, "n": 1, "median_us": round(took * 1e6), "p99_us": round(took * 1e6),
                     "max_us": round(took * 1e6), "verdict": verdict.verdict, "rule": verdict.rule})  # fmt: skip

    print(f"{'what':38} {'n':>6} {'median µs':>10} {'p99 µs':>9} {'max µs':>9}  parsed / verdict")
    for r in rows:
        if "skipped" in r:
            print(f"{r['what']:38} skipped: {r['skipped']}")
            continue
        parsed_col = f"{r['parsed']}/{r['of']}" if "parsed" in r else f"{r.get('verdict', '')} {r.get('rule') or ''}"
        print(f"{r['what']:38} {r['n']:>6} {r['median_us']:>10} {r['p99_us']:>9} {r['max_us']:>9}  {parsed_col}")
    if args.json:
        print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
