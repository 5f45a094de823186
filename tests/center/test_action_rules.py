"""The shipped action rules (center/action_rules.toml) name actions that exist and
params those actions take, and give the verdicts they say on real params: a rule
left behind by a rename would silently never match."""

from __future__ import annotations

import fnmatch

import pytest

from agent_core.host import PluginHost, builtin_plugin_names
from center._policy import load_action_rules


def _declared() -> dict[str, set[str]]:
    """Every built-in action -> its params' field names."""
    host = PluginHost()
    out: dict[str, set[str]] = {}
    for name in builtin_plugin_names():
        plugin = host.load(name)
        for act in plugin.actions.values():
            out[act.name] = set(act.params.__struct_fields__)
    return out


def test_every_rule_names_real_actions_and_params():
    actions = _declared()
    problems = []
    for rule in load_action_rules():
        matched = [a for a in actions if fnmatch.fnmatchcase(a, rule.action)]
        if not matched:
            problems.append(f"{rule.id}: no action matches {rule.action!r}")
            continue
        for field in rule.when:
            if not any(field in actions[a] for a in matched):
                problems.append(f"{rule.id}: no action matching {rule.action!r} takes {field!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("action", "params", "verdict"),
    [
        ("svc.stop", {"name": "sshd"}, "approve"),
        ("svc.stop", {"name": "networking"}, "approve"),
        ("svc.stop", {"name": "nginx"}, None),
        ("svc.disable", {"name": "ssh.service"}, "approve"),
        ("state.service.running", {"name": "sshd", "running": False}, "approve"),
        ("state.service.running", {"name": "sshd"}, None),
        ("svc.boot.mask", {"unit": "nginx"}, "approve"),
        ("pkg.remove", {"packages": ["nginx", "openssh-server"]}, "block"),
        ("pkg.remove", {"packages": ["nginx"]}, None),
        ("pkg.install", {"packages": ["/tmp/x_1.0_all.deb"]}, "approve"),
        ("pkg.install", {"packages": ["nginx", "./local.rpm"]}, "approve"),
        ("pkg.install", {"packages": ["nginx", "curl=7.88.1-10"]}, None),
        ("user.present", {"name": "ops", "add_groups": ["staff", "sudo"]}, "approve"),
        ("user.present", {"name": "ops", "groups": ["wheel"]}, "approve"),
        ("user.present", {"name": "ops", "uid": 0}, "approve"),
        ("state.user.present", {"name": "ops", "groups": ["docker"]}, "approve"),
        ("user.present", {"name": "ops", "groups": ["staff"], "uid": 1500}, None),
        ("user.group.present", {"name": "sudo", "add_members": ["ops"]}, "approve"),
        ("user.group.present", {"name": "staff", "add_members": ["ops"]}, None),
    ],
)
def test_service_and_package_rules(action, params, verdict):
    found = [r.verdict for r in load_action_rules() if r.matches(action, params)]
    assert found == ([verdict] if verdict else [])
