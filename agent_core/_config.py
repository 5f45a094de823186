"""Agent configuration: the ``[agent]`` table of a TOML file, overridden by the environment.

Precedence: built-in defaults < the file's ``[agent]`` table < ``STARLING_AGENT_<FIELD>``
variables (``STARLING_AGENT_IDC=bj1``; list fields take comma-separated values). The
loader is the one every role uses (:func:`transports.load_section`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from transports import ConfigError, load_section, renamed_plugin
from transports.signing import DEFAULT_MAX_LIFETIME, DEFAULT_MAX_TIMEOUT

__all__ = ["AgentConfig", "ConfigError", "current_plugin_names", "load_config"]

log = logging.getLogger("starling.agent")


def current_plugin_names(names: Iterable[str], where: str) -> list[str]:
    """``names`` with every renamed plugin read as its new name (transports/renamed.toml),
    each with a warning: a disabled plugin stays disabled after it was renamed."""
    out = []
    for name in names:
        new = renamed_plugin(name)
        if new is not None:
            log.warning("%s names plugin %r, which is now %r: read as %r (update it)", where, name, new, new)
        out.append(new or name)
    return out


class AgentConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    #: Center API URLs, tried in order for registration.
    center: list[str] = msgspec.field(default_factory=lambda: ["https://127.0.0.1:8470"])
    #: Fleet enrollment token, checked by the center at registration.
    enroll_token: str = ""
    #: Proxy URLs to enroll through (``enroll`` on the connection the agent then logs
    #: in on; the proxy batches it to the center): no HTTPS request per agent. Empty:
    #: register over HTTPS with ``center`` (also the fallback when no proxy carries it).
    enroll_proxies: list[str] = []
    #: IDC hint; the identity override file wins over it.
    idc: str = ""
    tags: list[str] = []
    state_dir: str = "/var/lib/starling"
    #: Where the plugin catalogue is cached ("" = the state dir). Local agents
    #: of one installation may share it: the catalogue depends only on what is installed.
    cache_dir: str = ""
    #: CA bundle that signs the center's and proxies' certificates ("" = system store).
    ca_file: str = ""
    #: ``tcp`` | ``quic`` | ``http`` | ``auto``.
    transport: str = "tcp"
    identity_file: str = ""
    #: Preferred networks for the primary IP, in order (docs/identity.md).
    preferred_cidrs: list[str] = []
    max_output: int = 1024 * 1024
    nice: int = 0
    log_level: str = "info"
    log_file: str = ""
    #: Seconds between heartbeats when the proxy does not say otherwise.
    heartbeat: float = 10.0
    #: Reconnect backoff: first delay and cap, in seconds (jittered).
    backoff_min: float = 0.5
    backoff_max: float = 30.0
    disabled_plugins: list[str] = []
    plugin_config: dict[str, dict[str, Any]] = {}
    #: Throttle: the agent's own memory budget (RSS) above which it defers work. Its own CPU
    #: is capped by the kernel (the systemd unit's ``CPUQuota``), not by the agent itself.
    mem_budget_mb: int = 200
    #: Runnable tasks per CPU, right now, above which work waits (kernels without PSI).
    max_load_per_cpu: float = 4.0
    #: CPU pressure (PSI "some avg10", percent) above which work waits; 0 = never.
    max_cpu_pressure: float = 90.0
    max_concurrent: int = 32
    #: Refuse tasks not signed by the center (A010/A011). Only tests turn it off.
    verify_signatures: bool = True
    #: Seconds of clock skew tolerated on task expiry, issue time and epoch.
    clock_leeway: float = 60.0
    #: The longest task timeout accepted (A018 above it): 7 days, the center's cap.
    max_task_timeout: float = DEFAULT_MAX_TIMEOUT
    #: The longest signed lifetime (expires - issued) accepted (A018 above it):
    #: the longest timeout + the center's 24 h approval window + 1 h of grace.
    max_task_lifetime: float = DEFAULT_MAX_LIFETIME
    #: File channel: this agent's download/upload cap in bytes per second (0: none).
    file_rate: float = 0.0
    #: Mount points reported in the health summary besides the usual ones
    #: (/, /var, /home, /data, /tmp, /var/lib/docker).
    health_mounts: list[str] = []

    def __post_init__(self) -> None:
        self.disabled_plugins = current_plugin_names(self.disabled_plugins, "agent config disabled_plugins")
        sections = current_plugin_names(self.plugin_config, "agent config plugin_config")
        self.plugin_config = dict(zip(sections, self.plugin_config.values(), strict=True))


def load_config(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> AgentConfig:
    """Read the file (if any) and the environment into an :class:`AgentConfig`."""
    return load_section(AgentConfig, path, "agent", env=env)


def secret_paths(config: AgentConfig, config_path: str | os.PathLike[str] | None = None) -> list[Path]:
    """Every path of the agent that holds a secret: the config (enrollment token), the
    state dir, its credentials (``enrollment.json``), its key and its journal (task
    parameters and output)."""
    state = Path(config.state_dir)
    paths = [state, state / "enrollment.json", state / "agent-ed25519.pem"]
    paths += [state / f"journal.db{suffix}" for suffix in ("", "-wal", "-shm", "-journal")]
    if config_path is not None:
        paths.insert(0, Path(config_path))
    return paths


def tighten_secret_files(config: AgentConfig, config_path: str | os.PathLike[str] | None = None) -> list[Path]:
    """Tighten the agent's secret files to 0600 and its state dir to 0700, with a
    warning for each that was looser (at start)."""
    from transports import tighten_private

    return tighten_private(secret_paths(config, config_path))
