"""Benchmark the audit log: append N MAC-ed records, then verify them all (from the
database, against an anchor file), the way `starling audit verify` does.

Run: ``.venv/bin/python bench/audit_verify.py [--records N] [--json]``. Prints a
table; with ``--json``, one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from center.security import (  # noqa: E402
    AuditEntry,
    AuditKeyRing,
    AuditLog,
    FileAnchorSink,
    audit_table,
    make_anchor,
    verify_chain,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000, help="records per append_many call")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="starling-audit-bench-") as tmp:
        root = Path(tmp)
        ring = AuditKeyRing.load_or_create(root / "audit.key")
        engine = sa.create_engine(f"sqlite:///{root / 'center.db'}")
        log = AuditLog(engine, audit_table(sa.MetaData()), key=ring)
        log.create()
        sink = FileAnchorSink(root / "anchors.jsonl")
        detail = {"action": "exec.run", "hosts": 1000, "hold": False, "reasons": [], "risk": "change"}
        t0 = time.perf_counter()
        n = 0
        while n < args.records:
            k = min(args.batch, args.records - n)
            log.append_many([AuditEntry("admin-1234", "job.submit", f"job-{n + i}", detail) for i in range(k)])
            n += k
            head = log.head()
            assert head is not None
            sink.write(make_anchor(ring, *head, center="bench"))
        append_s = time.perf_counter() - t0

        t0 = time.perf_counter()
        records = list(log.iter_records())
        read_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        anchors, bad = sink.read(ring)
        anchors_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        problems = verify_chain(records, key=ring, anchors=anchors)
        check_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        problems_full = log.verify(anchors=anchors)
        full_s = time.perf_counter() - t0
        engine.dispose()
        assert not problems and not problems_full and not bad

    rows = [
        (f"append (batches of {args.batch})", append_s, args.records / append_s),
        ("read records from SQLite", read_s, args.records / read_s),
        (f"read + check {len(anchors)} anchors", anchors_s, len(anchors) / anchors_s),
        ("MAC chain check (in memory)", check_s, args.records / check_s),
        ("verify, end to end", full_s, args.records / full_s),
    ]
    print(f"audit log, {args.records:,} records, Python {platform.python_version()} on {platform.machine()}")
    print(f"{'step':34} {'seconds':>9} {'per second':>12}")
    for name, secs, rate in rows:
        print(f"{name:34} {secs:9.3f} {rate:12,.0f}")
    if args.json:
        print(json.dumps({
            "records": args.records, "anchors": len(anchors),
            "append_s": round(append_s, 3), "read_s": round(read_s, 3), "anchors_s": round(anchors_s, 3),
            "check_s": round(check_s, 3), "verify_s": round(full_s, 3),
            "verify_records_per_s": round(args.records / full_s),
        }))


if __name__ == "__main__":
    main()
