"""The packages every packaging test uses, built once per session with
contrib/packaging/build.sh (the one command)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._debroot import build_packages

OLD, NEW = "0.1.0", "0.1.1"


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``agent-old.deb``, ``agent-old.rpm``, ``center-old.deb``, ``center-old.rpm``, ``agent-new.deb``."""
    out = tmp_path_factory.mktemp("packages")
    built = build_packages(out, OLD, roles="agent,center", formats="deb,rpm") + build_packages(out, NEW, roles="agent", formats="deb")
    by_name = {}
    for p in built:
        kind = ("agent" if "agent" in p.name else "center") + "-" + ("new" if NEW in p.name else "old") + p.suffix
        by_name[kind] = p
    assert set(by_name) == {"agent-old.deb", "agent-old.rpm", "center-old.deb", "center-old.rpm", "agent-new.deb"}, built
    return by_name
