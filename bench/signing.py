"""Benchmark the end-to-end task signatures: sign a 10,000-task job, verify one task.

Run: ``.venv/bin/python bench/signing.py [--tasks N] [--rounds R]``. Prints a table.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from transports import JobSpec, TaskRef, decode, encode, encode_value  # noqa: E402
from transports._messages import Task  # noqa: E402
from transports._signing import (  # noqa: E402
    key_id_for,
    public_key_bytes,
    sign_job_spec,
    verify_task_message,
)


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()

    key = Ed25519PrivateKey.generate()
    kid = key_id_for(key)
    keys = {kid: public_key_bytes(key)}
    spec = JobSpec(
        job_id="bench-job",
        action="exec.run",
        params=msgspec.Raw(encode_value({"cmd": "uptime", "env": {"LANG": "C"}})),
        timeout=60.0,
        deadline=time.time() + 600,
        account="bench",
    )
    refs = [TaskRef(f"bench-job-{i:07d}", f"agent-{i:07d}") for i in range(args.tasks)]

    sign_times = []
    for _ in range(max(3, args.rounds // 4)):
        t0 = time.perf_counter()
        signed_spec, signed_refs = sign_job_spec(key, kid, spec, refs, expires=time.time() + 600)
        sign_times.append(time.perf_counter() - t0)

    # One task as the agent gets it: decoded from the wire, then verified.
    ref = signed_refs[len(signed_refs) // 2]
    wire = encode(Task(task_id=ref.task_id, job=signed_spec, proof=ref.proof, index=ref.index))
    task = decode(wire)
    assert isinstance(task, Task)
    verify_times = []
    decode_verify_times = []
    for _ in range(args.rounds * 50):
        t0 = time.perf_counter()
        verify_task_message(keys, task, time.time(), agent_id=ref.agent_id)
        verify_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        got = decode(wire)
        verify_task_message(keys, got, time.time(), agent_id=ref.agent_id)  # type: ignore[arg-type]
        decode_verify_times.append(time.perf_counter() - t0)

    rows = [
        ("tasks in the job", f"{args.tasks:,}"),
        ("sign the job (tree + proofs + 1 Ed25519 sig), median", f"{statistics.median(sign_times) * 1e3:.1f} ms"),
        ("proof length per task", f"{len(ref.proof)} hashes ({len(ref.proof) * 32} bytes)"),
        ("task message size on the wire", f"{len(wire)} bytes"),
        ("verify one task, median", f"{_median_us(verify_times):.0f} µs"),
        ("verify one task, p99", f"{sorted(verify_times)[int(len(verify_times) * 0.99)] * 1e6:.0f} µs"),
        ("decode + verify one task, median", f"{_median_us(decode_verify_times):.0f} µs"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"signing benchmark — Python {platform.python_version()}, {platform.machine()}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
