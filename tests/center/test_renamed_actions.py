"""Renamed actions at the center (transports/renamed.toml): an old name is refused with
the new one named (C023), and scopes and action rules written with old names keep
protecting the renamed actions, with a warning at load. Real declarations: the
catalogue is the one the real agent reports."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent_core.host import catalogue_for
from center._accounts import Account, Scope
from center._policy import Policy, load_action_rules
from center._renamed import matches_action
from center._requests import JobRequest
from center._rows import HostRow
from transports import StarlingError, renamed_actions


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    digest, doc = catalogue_for(tmp_path_factory.mktemp("catalogue"))
    rules = tmp_path_factory.mktemp("rules") / "old-names.toml"
    # An operator's rule file from before the rename: exact old names and an old family glob.
    rules.write_text(
        '[[rule]]\nid = "no-docker-logs"\naction = "docker.logs"\nverdict = "block"\nmessage = "no container logs"\n\n'
        '[[rule]]\nid = "sysctl-approval"\naction = "sysctl.*"\nverdict = "approve"\nmessage = "kernel tunables"\n\n'
        '[[rule]]\nid = "marker"\naction = "cmd.run"\nwhen = { cmd = ["echo FORBIDDEN-MARKER*"] }\nverdict = "block"\nmessage = "marker"\n'
    )
    p = Policy(action_rules=[rules])
    p.book.add(digest, doc)
    p.digest = digest  # type: ignore[attr-defined]
    return p


def _targets(policy: Policy) -> list[HostRow]:
    return [HostRow(id="h1", sn="SN1", hostname="h1", ip="", os="", idc="default", tags=[], version="", proxy_id=None, carrier="", online=True,
                    code="", last_seen=0.0, health={}, registered=0.0, revoked=False, public_key="", catalogue=policy.digest)]  # type: ignore[attr-defined]


def test_an_old_name_is_refused_with_the_new_name(policy: Policy) -> None:
    for old, new in renamed_actions().items():
        with pytest.raises(StarlingError) as err:
            policy.book.resolve(old, {}, _targets(policy))
        assert err.value.code.value == "C023" and f"renamed to {new!r}" in str(err.value), old
    with pytest.raises(StarlingError) as err:
        policy.book.resolve("no.such.action", {}, _targets(policy))
    assert err.value.code.value == "C023" and "renamed" not in str(err.value)


def test_an_old_exact_rule_still_blocks_the_new_action(policy: Policy) -> None:
    admin = Account("k", admin=True)
    with pytest.raises(StarlingError) as err:
        policy.admit(admin, JobRequest(action="container.docker.logs", params={"container": "x"}), _targets(policy))
    assert err.value.code.value == "C010" and "no-docker-logs" in str(err.value)
    with pytest.raises(StarlingError) as err:
        policy.admit(admin, JobRequest(action="exec.run", params={"cmd": "echo FORBIDDEN-MARKER"}), _targets(policy))
    assert err.value.code.value == "C010" and "marker" in str(err.value)
    ok = policy.admit(admin, JobRequest(action="exec.run", params={"cmd": "echo fine"}), _targets(policy))
    assert not ok.hold


def test_an_old_glob_rule_still_holds_the_renamed_family(policy: Policy) -> None:
    admin = Account("k", admin=True)
    adm = policy.admit(admin, JobRequest(action="kernel.sysctl.get", params={"keys": ["vm.swappiness"]}), _targets(policy))
    assert adm.hold and any("sysctl-approval" in r for r in adm.reasons)
    adm = policy.admit(admin, JobRequest(action="kernel.taint", params={}), _targets(policy))
    assert not any("sysctl-approval" in r for r in adm.reasons)  # only what the old glob reached


def test_rule_files_naming_old_actions_warn_at_load(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rules = tmp_path / "r.toml"
    rules.write_text('[[rule]]\nid = "old-cron"\naction = "cron.*"\nverdict = "approve"\n')
    with caplog.at_level(logging.WARNING, logger="starling.center"):
        loaded = load_action_rules([rules])
    text = caplog.text
    assert "old-cron" in text and "cron.add -> sched.cron.add" in text and "cron.periodic -> sched.periodic" in text
    rule = next(r for r in loaded if r.id == "old-cron")
    assert rule.matches("sched.cron.add", {}) and rule.matches("sched.periodic", {})
    assert not rule.matches("sched.at.add", {})


def test_builtin_action_rules_name_no_old_action(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="starling.center"):
        load_action_rules()
    assert "renamed" not in caplog.text


def test_scopes_written_with_old_names_grant_what_they_granted(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="starling.center"):
        exact = Scope(actions=["cmd.run"])
    assert "'cmd.run'" in caplog.text and "exec.run" in caplog.text
    assert exact.allows_action("exec.run", "danger")  # named exactly (by its old name)
    assert not exact.allows_action("exec.script", "danger")
    family = Scope(actions=["cpu.*", "cmd.*"])
    assert family.allows_action("hw.cpuinfo", "read") and family.allows_action("hw.topology", "read")
    assert not family.allows_action("hw.gpu", "read")  # never was cpu.*
    assert not family.allows_action("exec.run", "danger")  # a glob never grants danger
    # An older agent may still declare an old name: a new-name scope covers it too.
    assert Scope(actions=["container.*"]).allows_action("docker.ps", "read")
    assert not Scope(actions=["disk.*"]).allows_action("docker.ps", "read")


def test_an_old_grant_does_not_widen_into_a_merged_action(caplog: pytest.LogCaptureFixture) -> None:
    """sys.env (the agent's own environment) and exec.env merged into proc.environ, which
    reads any process's environment: a scope that granted sys.env or sys.* grants the
    same old-name one-for-one renames, never the broader merged action."""
    with caplog.at_level(logging.WARNING, logger="starling.center"):
        old = Scope(actions=["sys.*", "exec.env", "deb.list"])
    assert not old.allows_action("proc.environ", "read")
    assert not old.allows_action("pkg.list", "read")  # deb.list and rpm.list merged into it
    assert old.allows_action("sys.osrelease", "read")  # sys.os -> sys.osrelease: one-for-one
    assert "no longer grants proc.environ" in caplog.text
    assert Scope(actions=["proc.environ"]).allows_action("proc.environ", "read")
    # Restrictions follow every rename: a rule on sys.env still holds proc.environ.
    assert matches_action("sys.env", "proc.environ")
