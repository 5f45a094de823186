"""Which of the center's and proxy's files hold secrets, and keeping them private.

Files are created 0600 (see :func:`transports.write_private`); this module
tightens what an older version, an operator or a package left looser, at start,
with a warning for each file it changes.
"""

from __future__ import annotations

from pathlib import Path

from transports import tighten_private

from ._config import CenterConfig, ProxyConfig


def _with_sqlite_companions(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"), path.with_name(path.name + "-journal")]


def center_secret_paths(cfg: CenterConfig, config_path: str | None = None) -> list[Path]:
    """Every path of the center that holds a secret (existing or not)."""
    state = Path(cfg.state_dir)
    paths = [state, state / "keys", state / "pki"]
    if config_path:
        paths.append(Path(config_path))
    paths += _with_sqlite_companions(state / "center.db")
    if cfg.db.startswith("sqlite:///"):
        paths += _with_sqlite_companions(Path(cfg.db.removeprefix("sqlite:///")))
    paths += sorted((state / "keys").glob("*.pem")) + sorted((state / "keys").glob("*.key"))
    paths += sorted((state / "pki").glob("*.key"))
    if cfg.accounts_key_file:
        paths.append(Path(cfg.accounts_key_file))
    if cfg.key_file:
        paths.append(Path(cfg.key_file))
    paths.append(Path(cfg.audit_key_file) if cfg.audit_key_file else state / "audit.key")
    paths.append(Path(cfg.audit_anchor_file) if cfg.audit_anchor_file else state / "audit-anchors.jsonl")
    return paths


def proxy_secret_paths(cfg: ProxyConfig, config_path: str | None = None) -> list[Path]:
    """Every path of a proxy that holds a secret: its config (proxy token) and TLS key."""
    paths = [Path(config_path)] if config_path else []
    if cfg.key_file:
        paths.append(Path(cfg.key_file))
    return paths


def tighten_center_files(cfg: CenterConfig, config_path: str | None = None) -> list[Path]:
    """Tighten the center's secret files to 0600 and their directories to 0700."""
    return tighten_private(center_secret_paths(cfg, config_path))


def tighten_proxy_files(cfg: ProxyConfig, config_path: str | None = None) -> list[Path]:
    """Tighten a proxy's secret files to 0600."""
    return tighten_private(proxy_secret_paths(cfg, config_path))
