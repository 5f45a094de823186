"""Fixtures that start a real Starling (center, proxy, agents as processes)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def starling(home: Path, *args: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STARLING_HOME=str(home), COLUMNS="200")
    env.pop("STARLING_API", None)
    proc = subprocess.run([str(BIN / "starling"), *args], capture_output=True, text=True, env=env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"starling {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def run_json(home: Path, *args: str, timeout: float = 120) -> dict[str, Any]:
    proc = starling(home, *args, "--json", timeout=timeout) if "--" not in args else starling(home, *_json_before_dashdash(args), timeout=timeout)
    try:
        return json.loads(proc.stdout)
    except ValueError as exc:
        raise AssertionError(f"not JSON ({proc.returncode}): {proc.stdout}\n{proc.stderr}") from exc


def _json_before_dashdash(args: tuple[str, ...]) -> list[str]:
    i = args.index("--")
    return [*args[:i], "--json", *args[i:]]


class Fleet:
    def __init__(self, home: Path) -> None:
        self.home = home

    @property
    def profile(self) -> dict[str, Any]:
        return json.loads((self.home / "up.json").read_text())

    def cli(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return starling(self.home, *args, **kw)

    def json(self, *args: str, **kw: Any) -> dict[str, Any]:
        return run_json(self.home, *args, **kw)


@contextlib.contextmanager
def up_fleet(home: Path, agents: int, env: dict[str, str] | None = None) -> Iterator[Fleet]:
    """``starling up`` in ``home`` (with extra environment for the roles, e.g.
    ``STARLING_CENTER_RISK_RULES``), stopped with ``starling down`` afterwards."""
    old = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        proc = starling(home, "up", "--agents", str(agents), "--port", "0", "--detach", "--no-demo", timeout=180)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if proc.returncode != 0:
        starling(home, "down")
        raise AssertionError(f"starling up failed:\n{proc.stdout}\n{proc.stderr}")
    try:
        yield Fleet(home)
    finally:
        starling(home, "down")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    with up_fleet(tmp_path_factory.mktemp("starling"), getattr(request.module, "AGENTS", 5)) as f:
        yield f
