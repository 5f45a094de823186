"""Bytes on the wire per message, and the cost of signing one job, from the real codec.

Every message is built with the real types and encoded by the real codec
(``transports.encode``, plus the 4-byte frame header of the stream carriers); the
job is signed by the real ``transports._signing.sign_job`` (the Merkle tree over
every task, one Ed25519 signature), and the result by ``sign_result`` with an
agent's key. Ids have the length the center gives them. These are the per-message
figures docs/scale.md multiplies out; TLS adds its own ~29 bytes per record.

    .venv/bin/python bench/wire_sizes.py --hosts 10000 500000 --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

# bench/ holds scripts named like packages (bench/transports.py): keep them off sys.path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import msgspec  # noqa: E402

from transports import (  # noqa: E402
    Ack,
    AgentState,
    DiskUsage,
    Dispatch,
    Health,
    JobSpec,
    Ping,
    Pong,
    Presence,
    Result,
    ResultAck,
    Task,
    TaskRef,
    encode,
)
from transports._signing import key_id_for, new_nonce, new_private_key, sign_job, sign_result  # noqa: E402

FRAME = 4  # the length prefix of the stream carriers


def _id(prefix: str) -> str:
    """An id shaped like the center's (``center._store.new_id``): prefix, ms clock, 10 hex."""
    return f"{prefix}{int(time.time() * 1000):x}{uuid.uuid4().hex[:10]}"


def sizes(hosts: int, per_proxy: int) -> dict[str, float]:
    center_key, agent_key = new_private_key(), new_private_key()
    job_id = _id("j")
    task_ids = [_id("t") for _ in range(hosts)]
    agent_ids = [_id("h") for _ in range(hosts)]
    params = msgspec.msgpack.encode({"command": "echo hi"})
    now = time.time()
    cpu0 = time.process_time()
    signed = sign_job(
        center_key, key_id=key_id_for(center_key), job_id=job_id, action="exec.run", params=params,
        account="ops", timeout=60.0, deadline=now + 600, stream=False, issued=now, expires=now + 600,
        nonce=new_nonce(), task_ids=task_ids, agent_ids=agent_ids,
    )  # fmt: skip
    sign_cpu = time.process_time() - cpu0
    spec = JobSpec(
        job_id=job_id, action="exec.run", params=msgspec.Raw(params), timeout=60.0, deadline=now + 600,
        account="ops", key_id=key_id_for(center_key), root=signed.root, signature=signed.signature, issued=now,
    )  # fmt: skip
    share = min(per_proxy, hosts)
    dispatch = Dispatch(
        dispatch_id=_id("d"), job=spec,
        tasks=[TaskRef(task_ids[i], agent_ids[i], signed.proofs[i], i) for i in range(share)],
    )  # fmt: skip
    task = Task(task_id=task_ids[-1], job=spec, proof=signed.proofs[-1], index=hosts - 1)
    result = sign_result(
        agent_key,
        Result(task_id=task_ids[-1], state="succeeded", exit_code=0, stdout="hi\n", started=now, finished=now + 0.004),
    )
    health = Health(
        load1=0.42, cpus=32, mem_total=128 << 30, mem_available=90 << 30, uptime=8.6e6, agent_rss=34 << 20,
        disks=[DiskUsage("/", 100 << 30, 40 << 30), DiskUsage("/data", 4 << 40, 1 << 40)], clock=now,
    )  # fmt: skip
    row = AgentState(agent_id=agent_ids[0], online=True, at=now, health=health, carrier="tcp", peer="10.1.2.3:51234")
    presence = Presence(agents=[row] * 1000)

    def wire(msg: msgspec.Struct) -> int:
        return len(encode(msg)) + FRAME  # type: ignore[arg-type]

    return {
        "hosts": hosts,
        "sign_cpu_s": round(sign_cpu, 3),
        "proof_hashes": len(signed.proofs[-1]),
        "dispatch_bytes_per_task": round(wire(dispatch) / share, 1),
        "task_bytes": wire(task),
        "ack_bytes": wire(Ack(task_id=task_ids[-1], at=now)),
        "result_bytes": wire(result),
        "result_ack_bytes_per_task": round((wire(ResultAck(task_ids=task_ids[:100]))) / 100, 1),
        "ping_with_health_bytes": wire(Ping(seq=123456, health=health)),
        "ping_bytes": wire(Ping(seq=123456)),
        "pong_bytes": wire(Pong(seq=123456)),
        "presence_bytes_per_agent": round(wire(presence) / 1000, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hosts", type=int, nargs="+", default=[10_000, 500_000])
    ap.add_argument("--per-proxy", type=int, default=10_000, help="tasks in one proxy's dispatch")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = ap.parse_args()
    rows = [sizes(n, args.per_proxy) for n in args.hosts]
    cols = list(rows[0])
    print(f"wire sizes on {os.uname().machine}, codec {encode.__module__}")
    print(" | ".join(cols))
    print(" | ".join("---" for _ in cols))
    for r in rows:
        print(" | ".join(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]) for c in cols))
    if args.json:
        print(json.dumps({"bench": "wire_sizes", "rows": rows}))


if __name__ == "__main__":
    main()
