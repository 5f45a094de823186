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

    print(f"{'what':30} {'n':>6} {'median µs':>10} {'p99 µs':>9} {'max µs':>9}  parsed")
    for r in rows:
        if "skipped" in r:
            print(f"{r['what']:30} skipped: {r['skipped']}")
            continue
        parsed_col = f"{r['parsed']}/{r['of']}" if "parsed" in r else ""
        print(f"{r['what']:30} {r['n']:>6} {r['median_us']:>10} {r['p99_us']:>9} {r['max_us']:>9}  {parsed_col}")
    if args.json:
        print(json.dumps({"rows": rows}))


if __name__ == "__main__":
    main()
