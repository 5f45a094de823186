"""Print the interception figures at the end of any run that included the corpus."""

from __future__ import annotations

import sys


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    module = sys.modules.get("tests.security.test_risk_corpus") or sys.modules.get("test_risk_corpus")
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
