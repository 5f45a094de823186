from __future__ import annotations

import os

from agent_core.testing import run_action


def _tree(tmp_path):
    init = tmp_path / "init.d"
    init.mkdir()
    (init / "stdemo").write_text(
        "#!/bin/sh\n### BEGIN INIT INFO\n# Provides: stdemo\n# Required-Start: $network\n"
        "# Default-Start: 2 3 4 5\n# Default-Stop: 0 1 6\n# Short-Description: Starling demo\n"
        "# Description: a longer text\n#  that continues here\n### END INIT INFO\n"
        '[ "$1" = status ] && exit 3\nexit 0\n'
    )
    (init / "stdemo").chmod(0o755)
    (init / "plain").write_text("#!/bin/sh\nexit 0\n")
    (init / "README").write_text("not a service\n")
    (init / "old.dpkg-old").write_text("#!/bin/sh\n")
    for level, link in (
        ("2", "S01stdemo"),
        ("3", "S01stdemo"),
        ("0", "K01stdemo"),
        ("3", "S02gone"),
    ):
        d = tmp_path / f"rc{level}.d"
        d.mkdir(exist_ok=True)
        os.symlink(f"../init.d/{link[3:]}", d / link)
    return str(init), str(tmp_path)


async def test_sysv_runlevels_links_and_problems(tmp_path):
    initdir, rcdir = _tree(tmp_path)
    out = await run_action("svc.sysv.runlevels", {"initdir": initdir, "rcdir": rcdir})
    assert out.ok, out.message
    services = {s["name"]: s for s in out.value["services"]}
    assert set(services) == {"stdemo", "plain"}
    demo = services["stdemo"]
    assert demo["description"] == "Starling demo" and demo["provides"] == "stdemo"
    assert demo["default_start"] == ["2", "3", "4", "5"] and demo["required_start"] == ["$network"]
    assert sorted((lk["runlevel"], lk["kind"]) for lk in demo["links"]) == [
        ("0", "kill"),
        ("2", "start"),
        ("3", "start"),
    ]
    assert "state" not in demo and services["plain"]["executable"] is False
    problems = out.value["problems"]
    assert "rc3.d/S02gone points to a missing script" in problems
    assert "stdemo: started in runlevels 23, header says 2345" in problems
    assert "plain: script is not executable" in problems


def _rc2_started() -> set[str]:
    """Scripts /etc/rc2.d starts, read from the links themselves."""
    out = set()
    for link in os.listdir("/etc/rc2.d"):
        path = os.path.join("/etc/rc2.d", link)
        if link.startswith("S") and os.path.islink(path) and os.path.exists(path):
            out.add(os.path.basename(os.readlink(path)))
    return out


async def test_sysv_runlevels_matches_rc_links():
    out = await run_action("svc.sysv.runlevels", {})
    assert out.ok, out.message
    started = {
        s["name"]
        for s in out.value["services"]
        if any(lk["runlevel"] == "2" and lk["kind"] == "start" for lk in s["links"])
    }
    assert started == (_rc2_started() if _has_rc2() else set())


def _has_rc2() -> bool:
    return os.path.isdir("/etc/rc2.d")


async def test_sysv_runlevels_bad_params(tmp_path):
    assert (await run_action("svc.sysv.runlevels", {"initdir": "etc/init.d"})).code == "A002"
    assert (await run_action("svc.sysv.runlevels", {"rcdir": str(tmp_path / "none")})).code == "A017"
    assert (await run_action("svc.sysv.runlevels", {"status": True})).code == "A002"
