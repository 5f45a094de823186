"""What the store benchmarks share (``bench/store.py``, ``bench/store_reads.py``):
a private database per backend, N registered agents, the loop over backends and
the table. Not a benchmark itself.

``main(doc, add_arguments, run, title, key, cell, width)`` is each
script's ``main``: it parses ``--hosts``, ``--backends`` and ``--json`` (and
what ``add_arguments`` adds), calls ``run(backend, args)`` for each backend (a
server that cannot be reached gives a row with its error), and prints one
table: a line per entry of each result's ``key`` dict, a column per backend.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

SERVERS = {
    "postgresql": os.environ.get("STARLING_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mariadb": os.environ.get("STARLING_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


@contextmanager
def private_db(backend: str) -> Iterator[str]:
    """The URL of a new, empty database on ``backend`` (``sqlite``, ``postgresql``, ``mariadb``), dropped afterwards."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="starling-bench-") as d:
            yield f"sqlite:///{d}/center.db"
        return
    server = SERVERS[backend]
    name = f"starling_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        yield sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if backend == "postgresql" else ""
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


def agent_rows(ids: list[str], now: float, **fields: Any) -> list[dict[str, Any]]:
    """One ``agents`` row per id, online on ``proxy-1``; ``fields`` override the plain defaults."""
    base = {"ip": "", "os": "", "idc": "bench", "tags": "[]", "version": "", "proxy_id": "proxy-1", "carrier": "tcp",
            "online": True, "code": "", "last_seen": now, "health": "{}", "registered": now, "revoked": False, "public_key": ""}
    return [{"id": a, "sn": f"sn-{a}", "hostname": f"h-{a}", **base, **fields} for a in ids]


def main(
    doc: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    run: Callable[[str, argparse.Namespace], dict[str, Any]],
    title: Callable[[argparse.Namespace], str],
    key: str,
    cell: Callable[[dict[str, Any]], str],
    width: int,
    totals: dict[str, Callable[[dict[str, Any]], str]] | None = None,
) -> None:
    """Parse the arguments, run every backend, print the table (and with ``--json`` one JSON line).

    :param key: the dict of each result whose entries are the table's lines (``phases``, ``readers``).
    :param cell: one entry of ``result[key]`` as a cell ``width`` wide.
    :param totals: lines under the table: label -> a whole result as a cell.
    """
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,postgresql,mariadb")
    parser.add_argument("--json", action="store_true")
    add_arguments(parser)
    args = parser.parse_args()
    out = []
    for backend in args.backends.split(","):
        try:
            out.append(run(backend, args))
        except sa.exc.OperationalError as exc:
            out.append({"backend": backend, "error": str(exc).splitlines()[0]})
    load = os.getloadavg()[0]
    print(f"{title(args)} ({platform.python_version()}, {os.cpu_count()} cpus, load {load:.2f})")
    names = list(next((o[key] for o in out if key in o), {}))
    label = max(len(n) for n in [key, *names, *(totals or {})]) + 2
    header = f"{key:<{label}}" + "".join(f"{o['backend']:>{width}}" for o in out)
    na = f"{'n/a':>{width}}"
    print(header)
    print("-" * len(header))
    for name in names:
        print(f"{name:<{label}}" + "".join(cell(o[key][name]) if key in o else na for o in out))
    if totals:
        print("-" * len(header))
        for name, total in totals.items():
            print(f"{name:<{label}}" + "".join(total(o) if key in o else na for o in out))
    for o in out:
        if "error" in o:
            print(f"{o['backend']}: {o['error']}")
    if args.json:
        given = {k: v for k, v in vars(args).items() if k not in ("json", "backends")}
        print(json.dumps({**given, "load1": load, "backends": out}))
