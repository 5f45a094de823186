"""Center and proxy configuration: a table of a TOML file, overridden by the environment.

The one loader every role uses (:func:`transports.load_section`): ``[center]`` (with its
``[console]`` side table) and ``[proxy]``, then ``STARLING_CENTER_<FIELD>`` /
``STARLING_PROXY_<FIELD>`` (e.g. ``STARLING_CENTER_DB=postgresql+psycopg://...``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Annotated, TypeVar

import msgspec

from transports import ConfigError, load_section

__all__ = ["CenterConfig", "ConfigError", "ConsoleConfig", "ProxyConfig", "load"]

T = TypeVar("T", bound=msgspec.Struct)


class ConsoleConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The ``[console]`` table of center.toml: the web console and its terminal."""

    #: Origins (``https://portal.example``) whose pages may open a terminal with an
    #: embed token (``?token=``); the console's own origin needs no entry.
    allowed_origins: list[str] = []
    #: Seconds without a keystroke after which a terminal session ends (A023).
    terminal_idle_timeout: float = 900.0
    #: Seconds a terminal session may last at most.
    terminal_max_session: float = 8 * 3600.0
    #: Seconds an embed token stays valid to open a terminal by default, and at most.
    terminal_token_ttl: float = 60.0
    terminal_token_max_ttl: float = 300.0
    #: Bytes of a session's output kept in the audit log (input is kept whole).
    terminal_record_bytes: int = 1024 * 1024
    #: The largest single input (a paste) the terminal takes; bigger is refused (A024).
    terminal_max_input: int = 64 * 1024
    #: Output flow control: bytes of a session's output on their way at most (the agent waits
    #: for credit beyond); 0 turns it off. Throughput per session is about this per round trip.
    terminal_window: Annotated[int, msgspec.Meta(ge=0, le=2 * 1024 * 1024)] = 256 * 1024


class CenterConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    center_id: str = "center-1"
    #: HTTPS API listen address.
    api: str = "https://127.0.0.1:8470"
    #: Where proxies connect (TLS).
    proxy_listen: str = "tcp://127.0.0.1:8472"
    #: SQLAlchemy URL: sqlite:///path (embedded), postgresql+psycopg://, mysql+pymysql://
    db: str = ""
    state_dir: str = "/var/lib/starling-center"
    enroll_token: str = ""
    proxy_token: str = ""
    #: TLS; empty = the embedded CA in state_dir/pki issues them.
    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    tls_hosts: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1", "localhost"])
    #: Seconds added to a job's timeout to give dispatch and delivery time.
    dispatch_grace: float = 30.0
    heartbeat: float = 10.0
    #: An agent silent for longer than this many heartbeats is offline (E005).
    grace_heartbeats: float = 3.0
    #: Share of a proxy's capacity that agents of other IDCs may borrow (0 = no borrowing).
    borrow_share: float = 0.5
    log_level: str = "info"
    log_file: str = ""
    #: Bootstrap admin API key (created on start when set).
    admin_key_id: str = ""
    admin_secret: str = ""
    #: Extra high-risk rule files (TOML), added to the built-in rules.
    risk_rules: list[str] = []
    #: The audit key ring (0600; "" = state_dir/audit.key, made on first start).
    #: Centers sharing one database must share this file.
    audit_key_file: str = ""
    #: Append-only file of audit anchors ("" = state_dir/audit-anchors.jsonl).
    audit_anchor_file: str = ""
    #: Seconds between anchors of the audit head (and one on shutdown); 0 = shutdown only.
    audit_anchor_interval: float = 60.0
    #: Also send anchors to syslog: "/dev/log" or "host:port" (UDP); "" = off.
    audit_syslog: str = ""
    audit_syslog_facility: str = "auth"
    #: Extra action rule files (TOML, see center/action_rules.toml).
    action_rules: list[str] = []
    #: Ed25519 public keys (base64) whose signature on a plugin package this center trusts.
    plugin_publishers: list[str] = []
    #: The key that seals account secrets in the database ("" = state_dir/keys/accounts.key).
    #: Every center of one cluster needs the same file.
    accounts_key_file: str = ""
    #: Before login (proxy links): largest frame in bytes, and seconds to log
    #: in, TLS handshake included. After login the 16 MiB frame limit applies.
    preauth_max_frame: int = 16384
    preauth_timeout: float = 10.0
    #: Proxy links held at once; of those not yet logged in, in all and per source address.
    max_connections: int = 1000
    max_preauth: int = 256
    max_preauth_per_source: int = 32
    #: File channel: chunk directory ("" = state_dir/chunks; share it between active-active centers).
    files_dir: str = ""
    #: The largest file `starling cp` may send or collect, in bytes.
    max_file_bytes: int = 64 * 1024**3
    #: Seconds a host may be offline before it drops out of ``all`` targets (0 = never).
    offline_after: float = 0.0
    #: Agents older than this version are diagnosed E007 ("" = no minimum).
    min_agent_version: str = ""
    #: Diagnosis thresholds: load per CPU (E003) and clock skew in seconds (E008).
    diag_load_per_cpu: float = 4.0
    diag_clock_skew: float = 30.0
    #: Chat-bot webhooks: signing secret per tool (slack, dingtalk, feishu), and the account the bot acts as.
    chat_secrets: dict[str, str] = {}
    chat_account: str = ""
    #: An HTTP CMDB (JSON) or an export file, re-read every ``cmdb_sync_interval`` seconds (0 = only on demand).
    cmdb_source: str = ""
    cmdb_sync_interval: float = 0.0
    #: The web console and terminal: the ``[console]`` table of the same file.
    console: ConsoleConfig = msgspec.field(default_factory=ConsoleConfig)


class ProxyConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    proxy_id: str = "proxy-1"
    idc: str = "default"
    #: Center link URLs (one link per center).
    centers: list[str] = msgspec.field(default_factory=lambda: ["tcp://127.0.0.1:8472"])
    proxy_token: str = ""
    #: Agent-facing listeners; advertised to agents as given unless `advertise` is set.
    listen: list[str] = msgspec.field(default_factory=lambda: ["tcp://127.0.0.1:8471"])
    advertise: list[str] = []
    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    heartbeat: float = 10.0
    #: Connections above which the proxy reports itself overloaded and drains
    #: (for the whole proxy; each worker takes its share).
    capacity: int = 20000
    #: Worker processes sharing the agent-facing TCP port (SO_REUSEPORT), each
    #: with its own center links; 0 = one per CPU. One process holds what its
    #: open-files limit allows (about 19,700 agents under a limit of 20,000).
    workers: int = 1
    #: With workers: a JSON file where the supervisor keeps the workers' PIDs and restart counts ("" = none).
    workers_status_file: str = ""
    #: Seconds the proxy gathers task events and results before sending them to its
    #: center in one write (the first one of a quiet spell waits this long too).
    flush_interval: float = 0.01
    #: Before login (agents): largest frame in bytes, and seconds to log in,
    #: TLS handshake included. After login the 16 MiB frame limit applies.
    preauth_max_frame: int = 16384
    preauth_timeout: float = 10.0
    #: Connections held at once over all listeners (an HTTP long-poll session
    #: counts as one); of those not yet logged in, in all and per source address.
    max_connections: int = 50000
    max_preauth: int = 1024
    max_preauth_per_source: int = 64
    #: ``host:port`` of the plain-HTTP health/readiness/metrics listener ("" = none).
    http_listen: str = ""
    #: File channel: on-disk chunk cache ("" = <tmp>/starling-<proxy_id>-chunks) and its size cap.
    cache_dir: str = ""
    cache_bytes: int = 10 * 1024**3
    #: Bytes per second this proxy serves to its agents in total (0: no cap).
    file_rate: float = 0.0
    log_level: str = "info"
    log_file: str = ""


#: Top-level tables of a role's file that belong to its config (``[console]`` of center.toml).
SIDE_TABLES = {"center": ("console",)}


def load(cls: type[T], path: str | os.PathLike[str] | None, section: str, env: Mapping[str, str] | None = None) -> T:
    """``[section]`` of the file at ``path`` (with its side tables) and the environment."""
    return load_section(cls, path, section, env=env, side_tables=SIDE_TABLES.get(section, ()))
