"""Each package's public face: a sorted ``__all__`` of names that exist, and the
generated docs are current."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "name",
    ["transports", "transports.signing", "agent_core", "agent_core.host", "agent_core.procfs", "agent_core.names", "center", "center.proxy", "center.security"],
)
def test_all_sorted_and_present(name):
    mod = importlib.import_module(name)
    exported = list(mod.__all__)
    assert exported == sorted(exported), f"{name}.__all__ is not sorted"
    for item in exported:
        assert hasattr(mod, item), f"{name}.{item} listed but missing"


def test_error_code_page_is_generated():
    import transports

    page = (ROOT / "docs" / "error-codes.md").read_text()
    assert page == transports.catalogue_markdown(), "regenerate: starling codes --markdown > docs/error-codes.md"


def test_error_codes_well_formed():
    import re

    from transports import ErrorCode

    for code in ErrorCode:
        assert re.fullmatch(r"[CPAE]\d{3}", code.value)
        assert code.meaning and code.hint and code.meaning[0].islower()
