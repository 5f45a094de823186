from __future__ import annotations

import hashlib

from agent_core.testing import run_action


def _status_paragraph(name: str) -> dict[str, str]:
    with open("/var/lib/dpkg/status") as fh:
        for para in fh.read().split("\n\n"):
            fields = dict(
                line.split(": ", 1)
                for line in para.splitlines()
                if ": " in line and not line.startswith(" ")
            )
            if fields.get("Package") == name and fields.get("Status", "").endswith("installed"):
                return fields
    return {}


def _md5(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.md5(fh.read()).hexdigest()


async def test_deb_info_bash_matches_status_file():
    out = await run_action("deb.info", {"name": "bash"})
    assert out.ok, out.message
    expected = _status_paragraph("bash")
    v = out.value
    assert v["version"] == expected["Version"] and v["architecture"] == expected["Architecture"]
    assert (
        v["installed"]
        and v["essential"]
        and v["installed_size"] == int(expected["Installed-Size"]) * 1024
    )


async def test_deb_info_test_package(deb_root):
    out = await run_action("deb.info", {"name": "starling-demo", "root": str(deb_root)})
    assert out.ok, out.message
    v = out.value
    assert (v["version"], v["architecture"], v["section"], v["source"]) == (
        "1.2-3",
        "all",
        "misc",
        "starling-demo",
    )
    assert v["status"] == "install ok installed" and v["installed_size"] == 8 * 1024
    assert v["relations"] == {"Depends": [["libc6 (>= 2.17)"], ["bash", "zsh"]]}
    assert v["summary"] == "Starling test package"
    assert v["description"] == "A package built by the Starling tests.\n\nSecond paragraph."
    md5 = _md5(deb_root / "etc/stdemo/demo.conf")
    assert v["conffiles"] == [{"path": "/etc/stdemo/demo.conf", "md5": md5, "obsolete": False}]


async def test_deb_info_errors(deb_root, tmp_path):
    assert (await run_action("deb.info", {"name": "bash", "root": str(deb_root)})).code == "A017"
    assert (await run_action("deb.info", {"name": "starling-no-such-package"})).code == "A017"
    assert (await run_action("deb.info", {"name": "Bad_Name"})).code == "A002"
    assert (await run_action("deb.info", {"name": "bash", "root": "relative"})).code == "A002"
    assert (
        await run_action("deb.info", {"name": "bash", "root": str(tmp_path / "none")})
    ).code == "A017"
