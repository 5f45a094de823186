"""Print the interception figures at the end of any run that included the corpus."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

CORPUS_TESTS = Path(__file__).with_name("test_risk_corpus.py")


def _corpus_module(terminalreporter) -> ModuleType | None:
    """The corpus test module when this run included it. Under pytest-xdist the
    tests ran in workers: load it here (it parses the corpus, runs nothing)."""
    module = sys.modules.get("tests.security.test_risk_corpus") or sys.modules.get("test_risk_corpus")
    if module is not None:
        return module
    ran = any(
        getattr(r, "nodeid", "").startswith("tests/security/test_risk_corpus.py")
        for reports in terminalreporter.stats.values()
        for r in reports
    )
    if not ran:
        return None
    spec = importlib.util.spec_from_file_location("tests.security.test_risk_corpus", CORPUS_TESTS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    module = _corpus_module(terminalreporter)
    if module is None:
        return
    f = module._figures()
    terminalreporter.section("high-risk command interception")
    terminalreporter.write_line(
        f"dangerous: {f['dangerous']}  caught: {f['caught']}  missed: {f['missed']} (the known misses)  "
        f"held as block/approve: {f['held']}"
    )
    terminalreporter.write_line(
        f"everyday:  {f['everyday']}  passed: {f['passed']}  false positives: {f['false_positives']}"
    )
