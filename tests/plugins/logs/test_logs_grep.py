"""log.grep: matches with context across rotated and compressed generations."""

from __future__ import annotations

import bz2
import gzip
import subprocess

from agent_core.testing import run_action


def _grep(*argv: str) -> str:
    return subprocess.run(["grep", *argv], capture_output=True, text=True).stdout


async def test_grep_context_matches_gnu_grep(tmp_path):
    log = tmp_path / "app.log"
    log.write_text("".join(f"{i} {'ERROR disk' if i % 7 == 0 else 'ok'}\n" for i in range(1, 40)))
    out = await run_action("log.grep", {"path": str(log), "pattern": "ERROR", "before": 1, "after": 2})
    assert out.ok, out.message
    hits = out.value["matches"]
    assert [h["line"] for h in hits] == [int(x.split(":")[0]) for x in _grep("-n", "ERROR", str(log)).split()
                                          if ":" in x]
    assert hits[0]["before"] == ["6 ok"] and hits[0]["after"] == ["8 ok", "9 ok"]
    assert hits[-1]["text"] == "35 ERROR disk" and hits[-1]["after"] == ["36 ok", "37 ok"]
    out = await run_action("log.grep", {"path": str(log), "pattern": "ok", "invert": True})
    assert len(out.value["matches"]) == 5
    out = await run_action("log.grep", {"path": str(log), "pattern": "error", "ignore_case": True, "max_matches": 2})
    assert len(out.value["matches"]) == 2 and out.value["truncated"] is True


async def test_grep_rotated_generations(tmp_path):
    log = tmp_path / "svc.log"
    log.write_text("now: panic in live\n")
    (tmp_path / "svc.log.1").write_text("panic in gen1\n")
    with gzip.open(tmp_path / "svc.log.2.gz", "wt") as fh:
        fh.write("quiet\npanic in gen2\n")
    with bz2.open(tmp_path / "svc.log.3.bz2", "wt") as fh:
        fh.write("panic in gen3\n")
    (tmp_path / "svc.log.unrelated").write_text("panic elsewhere\n")
    out = await run_action("log.grep", {"path": str(log), "pattern": "panic", "rotated": True})
    assert out.ok, out.message
    assert [m["text"] for m in out.value["matches"]] == ["panic in gen3", "panic in gen2", "panic in gen1", "now: panic in live"]
    assert out.value["matches"][1] == {"file": str(tmp_path / "svc.log.2.gz"), "line": 2, "text": "panic in gen2",
                                       "before": [], "after": []}
    out = await run_action("log.grep", {"path": str(log), "pattern": "panic"})
    assert len(out.value["matches"]) == 1


async def test_grep_errors(tmp_path):
    log = tmp_path / "a.log"
    log.write_text("x\n")
    (tmp_path / "a.log.1.gz").write_bytes(b"\x1f\x8b garbage")
    assert (await run_action("log.grep", {"path": str(log), "pattern": "x", "rotated": True})).code == "A002"
    assert (await run_action("log.grep", {"path": str(log), "pattern": "["})).code == "A002"
    assert (await run_action("log.grep", {"path": str(tmp_path / "no.log"), "pattern": "x"})).code == "A017"
    assert (await run_action("log.grep", {"path": str(log), "pattern": "x", "before": 500})).code == "A002"
