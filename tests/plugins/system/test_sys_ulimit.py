"""sys.ulimit: the agent's rlimits against resource, and limits.conf parsing on temp files."""

from __future__ import annotations

import os
import pwd
import resource

from agent_core.testing import run_action


async def test_agent_rlimits_match_resource():
    out = await run_action("sys.ulimit")
    assert out.ok, out.message
    got = {r["name"]: (r["soft"], r["hard"]) for r in out.value["agent"]}
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    inf = resource.RLIM_INFINITY
    assert got["nofile"] == (None if soft == inf else soft, None if hard == inf else hard)
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    assert got["core"] == (None if soft == inf else soft, None if hard == inf else hard)


async def test_configured_limits_and_user_filter(tmp_path):
    me = pwd.getpwuid(os.geteuid()).pw_name
    conf = tmp_path / "limits.conf"
    conf.write_text(
        "# comment\n"
        f"{me}  soft  nofile  65536\n"
        "*     hard  core    0\n"
        "@nosuchgroup_zz - nproc 10\n"
        "someoneelse soft nofile 1\n"
        "broken line here\n"
        "1000:  hard  nproc  4096  # uid range\n"
    )
    out = await run_action("sys.ulimit", {"files": [str(conf)]})
    assert out.ok, out.message
    v = out.value
    assert len(v["configured"]) == 5
    assert v["errors"] == [f"{conf}:6: cannot parse 'broken line here'"]
    assert v["configured"][0] == {"domain": me, "type": "soft", "item": "nofile", "value": "65536", "file": str(conf), "line": 2}
    mine = await run_action("sys.ulimit", {"files": [str(conf)], "user": me})
    domains = [e["domain"] for e in mine.value["configured"]]
    assert me in domains and "*" in domains and "someoneelse" not in domains and "@nosuchgroup_zz" not in domains
    assert ("1000:" in domains) == (os.geteuid() >= 1000)


async def test_ulimit_errors():
    assert (await run_action("sys.ulimit", {"user": "no_such_user_zz9"})).code == "A017"
    assert (await run_action("sys.ulimit", {"files": ["relative.conf"]})).code == "A002"
    assert (await run_action("sys.ulimit", {"files": ["/no/such/limits.conf"]})).code == "A017"
    assert (await run_action("sys.ulimit", {"verbose": 1})).code == "A002"
