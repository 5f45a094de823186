"""One config loader for every role, one environment convention, and no dead settings."""

from __future__ import annotations

import ast
from pathlib import Path

import msgspec
import pytest

from agent_core._config import AgentConfig, load_config
from center._config import CenterConfig, ConsoleConfig, ProxyConfig, load
from transports import ConfigError, ErrorCode, StarlingError, env_name

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    AgentConfig: ROOT / "agent_core/_config.py",
    CenterConfig: ROOT / "center/_config.py",
    ConsoleConfig: ROOT / "center/_config.py",
    ProxyConfig: ROOT / "center/_config.py",
}
# Packages whose code runs a role (tests, docs and benches do not count as readers).
READERS = ("agent_core", "center", "transports", "plugins", "contrib")


def _names_read() -> dict[str, set[Path]]:
    """Attribute names read anywhere in the roles' code, with the files reading them."""
    seen: dict[str, set[Path]] = {}
    for pkg in READERS:
        for path in (ROOT / pkg).rglob("*.py"):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
                    seen.setdefault(node.attr, set()).add(path)
                elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
                    seen.setdefault(node.value, set()).add(path)  # getattr(cfg, "name")
    return seen


@pytest.mark.parametrize("cls", list(CONFIGS), ids=lambda c: c.__name__)
def test_every_config_field_is_read(cls):
    seen = _names_read()
    own = CONFIGS[cls]
    dead = [f.name for f in msgspec.structs.fields(cls) if not (seen.get(f.name, set()) - {own})]
    assert not dead, f"{cls.__name__} fields that no code reads: {dead}"


def test_one_environment_convention(tmp_path):
    agent = tmp_path / "agent.toml"
    agent.write_text('[agent]\nidc = "file"\n')
    env = {"STARLING_AGENT_IDC": "bj1", "STARLING_AGENT_CENTER": "https://a:1, https://b:2"}
    cfg = load_config(agent, env=env)
    assert (cfg.idc, cfg.center) == ("bj1", ["https://a:1", "https://b:2"])
    assert load_config(agent, env={}).idc == "file"
    # The old, unprefixed agent variables are not read any more.
    assert load_config(agent, env={"STARLING_IDC": "old"}).idc == "file"
    assert env_name("agent", "idc") == "STARLING_AGENT_IDC"
    center = tmp_path / "center.toml"
    center.write_text('[center]\nheartbeat = 7\n[console]\nallowed_origins = ["https://portal.example"]\n')
    c = load(CenterConfig, center, "center", env={"STARLING_CENTER_DB": "sqlite:///x.db"})
    assert (c.db, c.heartbeat, c.console.allowed_origins) == ("sqlite:///x.db", 7, ["https://portal.example"])
    # The terminal's output window is bounded where it is read (a proxy closes a stream past 4 MiB).
    center.write_text("[center]\n[console]\nterminal_window = 99999999\n")
    with pytest.raises(ConfigError, match="terminal_window"):
        load(CenterConfig, center, "center", env={})
    p = load(ProxyConfig, None, "proxy", env={"STARLING_PROXY_IDC": "sh2"})
    assert p.idc == "sh2"


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [
        ("[agent\nidc=1", {}, "invalid TOML"),
        ('idc = "loose"\n', {}, "must be inside the [agent] table"),
        ('[agent]\nno_such_field = 1\n', {}, "no_such_field"),
        ('[agent]\nheartbeat = "soon"\n', {}, "heartbeat"),
        ("", {"STARLING_AGENT_HEARTBEAT": "soon"}, "heartbeat"),
    ],
)
def test_config_errors_are_in_the_error_tree(tmp_path, text, env, needle):
    path = tmp_path / "agent.toml"
    path.write_bytes(text.encode())
    with pytest.raises(ConfigError) as err:
        load_config(path, env=env)
    assert isinstance(err.value, StarlingError) and err.value.code is ErrorCode.C030
    assert needle in str(err.value)


def test_unreadable_file_and_bad_table_variable(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="STARLING_CENTER_CONSOLE must be a JSON object"):
        load(CenterConfig, None, "center", env={"STARLING_CENTER_CONSOLE": "{not json"})


def test_no_role_keeps_its_own_loader():
    for path in (ROOT / "agent_core/_config.py", ROOT / "center/_config.py"):
        assert "tomllib" not in path.read_text(), f"{path.name} parses TOML itself"
