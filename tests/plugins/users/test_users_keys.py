from __future__ import annotations

import os
import shutil
import stat
import subprocess

import pytest

from agent_core.testing import run_action


def _keygen(tmp_path, kind: str, comment: str, bits: int | None = None) -> tuple[str, str]:
    """A fresh public key and its fingerprint as ssh-keygen itself prints it."""
    path = tmp_path / f"id_{kind}_{comment}"
    argv = ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", comment, "-f", str(path)]
    if bits:
        argv += ["-b", str(bits)]
    subprocess.run(argv, check=True)
    pub = (tmp_path / f"{path.name}.pub").read_text().strip()
    fp = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", f"{path}.pub"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return pub, fp[1]


def _write(path: str, text: str, mode: int) -> None:
    os.makedirs(os.path.dirname(path), mode=0o700)
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _owner(path: str) -> int:
    return os.stat(path).st_uid


@pytest.fixture
def keys(tmp_path):
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen not installed (needed to make test keys)")
    return [
        _keygen(tmp_path, "ed25519", "alice@laptop"),
        _keygen(tmp_path, "rsa", "ci@build", 2048),
        _keygen(tmp_path, "ecdsa", "ops@bastion", 384),
    ]


async def test_add_list_remove(temp_user, keys):
    user = temp_user.pw_name
    (ed, ed_fp), (rsa, rsa_fp), (ec, ec_fp) = keys
    out = await run_action("user.keys", {"user": user})
    assert out.ok and out.value["exists"] is False and out.value["keys"] == []

    out = await run_action("user.keys.add", {"user": user, "key": ed})
    assert out.ok, out.message
    path = os.path.join(temp_user.pw_dir, ".ssh", "authorized_keys")
    assert out.value == {
        "user": user,
        "path": path,
        "changed": True,
        "fingerprints": [ed_fp],
        "keys": 1,
    }
    assert (
        _mode(path) == 0o600
        and _mode(os.path.dirname(path)) == 0o700
        and _owner(path) == temp_user.pw_uid
    )
    assert (await run_action("user.keys.add", {"user": user, "key": ed})).value["changed"] is False
    await run_action("user.keys.add", {"user": user, "key": f'from="10.0.0.0/8",no-pty {rsa}'})
    await run_action("user.keys.add", {"user": user, "key": ec})

    out = await run_action("user.keys", {"user": user})
    listed = {k["fingerprint"]: k for k in out.value["keys"]}
    assert set(listed) == {ed_fp, rsa_fp, ec_fp} and out.value["problems"] == []
    assert (listed[ed_fp]["type"], listed[ed_fp]["bits"], listed[ed_fp]["comment"]) == (
        "ssh-ed25519",
        256,
        "alice@laptop",
    )
    assert (listed[rsa_fp]["bits"], listed[rsa_fp]["options"]) == (2048, 'from="10.0.0.0/8",no-pty')
    assert listed[ec_fp]["bits"] == 384

    out = await run_action("user.keys.remove", {"user": user, "comment": "ci@build"})
    assert out.ok and out.value["fingerprints"] == [rsa_fp] and out.value["keys"] == 2
    out = await run_action("user.keys.remove", {"user": user, "fingerprint": ed_fp})
    assert out.ok and out.value["keys"] == 1
    assert (
        await run_action("user.keys.remove", {"user": user, "fingerprint": ed_fp})
    ).code == "A017"


async def test_list_reports_problems_and_bad_lines(temp_user, keys):
    user = temp_user.pw_name
    ssh = os.path.join(temp_user.pw_dir, ".ssh")
    _write(
        os.path.join(ssh, "authorized_keys"), keys[0][0] + "\nssh-rsa not-base64!! broken\n", 0o666
    )
    out = await run_action("user.keys", {"user": user})
    assert out.ok and len(out.value["keys"]) == 1 and out.value["invalid_lines"] == [2]
    assert any("world-writable" in p for p in out.value["problems"])


async def test_keys_bad_params(temp_user, keys):
    user = temp_user.pw_name
    assert (
        await run_action("user.keys.add", {"user": user, "key": "ssh-ed25519 AAAA"})
    ).code == "A002"
    assert (
        await run_action("user.keys.add", {"user": user, "key": keys[0][0] + "\n" + keys[1][0]})
    ).code == "A002"
    # A blob that decodes but claims another key type: a mangled paste.
    wrong = "ssh-rsa " + keys[0][0].split()[1]
    assert (await run_action("user.keys.add", {"user": user, "key": wrong})).code == "A002"
    assert (await run_action("user.keys.remove", {"user": user})).code == "A002"
    assert (await run_action("user.keys", {"user": user, "path": "relative/keys"})).code == "A002"
    assert (await run_action("user.keys", {"user": "sttest-no-such-user"})).code == "A017"
