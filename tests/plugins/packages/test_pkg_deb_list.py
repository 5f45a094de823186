from __future__ import annotations

from agent_core.testing import run_action


def _installed_from_status() -> set[str]:
    names = set()
    with open("/var/lib/dpkg/status") as fh:
        for para in fh.read().split("\n\n"):
            fields = dict(
                line.split(": ", 1)
                for line in para.splitlines()
                if ": " in line and not line.startswith(" ")
            )
            if fields.get("Status", "").endswith(" installed"):
                multi = fields.get("Multi-Arch") == "same"
                names.add(
                    f"{fields['Package']}:{fields.get('Architecture', '')}"
                    if multi
                    else fields["Package"]
                )
    return names


async def test_deb_list_matches_status_file():
    out = await run_action("deb.list", {})
    assert out.ok, out.message
    assert {p["name"] for p in out.value["packages"]} == _installed_from_status()
    assert out.value["count"] == len(out.value["packages"])
    assert out.value["total_size"] == sum(p["installed_size"] for p in out.value["packages"])
    out = await run_action("deb.list", {"pattern": "bash"})
    assert [p["name"] for p in out.value["packages"]] == ["bash"]


async def test_deb_list_states_in_test_root(deb_root, run):
    out = await run_action("deb.list", {"root": str(deb_root)})
    assert out.ok, out.message
    assert [(p["name"], p["version"], p["installed_size"]) for p in out.value["packages"]] == [
        ("starling-demo", "1.2-3", 8192)
    ]
    run(
        "dpkg",
        f"--root={deb_root}",
        "--force-not-root",
        "--force-script-chrootless",
        "-r",
        "starling-demo",
    )
    assert (await run_action("deb.list", {"root": str(deb_root)})).value["count"] == 0
    out = await run_action("deb.list", {"root": str(deb_root), "state": "config-files"})
    assert [(p["name"], p["status"]) for p in out.value["packages"]] == [
        ("starling-demo", "config-files")
    ]


async def test_deb_list_held(deb_root, run):
    run(
        "dpkg",
        f"--root={deb_root}",
        "--force-not-root",
        "--set-selections",
        stdin="starling-demo hold\n",
    )
    out = await run_action("deb.list", {"root": str(deb_root), "state": "held"})
    assert [(p["name"], p["held"], p["desired"]) for p in out.value["packages"]] == [
        ("starling-demo", True, "hold")
    ]


async def test_deb_list_bad_params():
    assert (await run_action("deb.list", {"state": "happy"})).code == "A002"
    assert (await run_action("deb.list", {"pattern": "-a"})).code == "A002"
    out = await run_action("deb.list", {"pattern": "starling-no-such-*"})
    assert out.ok and out.value["packages"] == []
