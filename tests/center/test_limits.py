"""Connection limits from the roles' configuration, and the open-files limit."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from center._config import CenterConfig, ConfigError, ProxyConfig, load
from center._limits import conn_limits, fit_open_files


def test_config_keys_become_limits() -> None:
    cfg = load(ProxyConfig, None, "proxy", env={"STARLING_PROXY_MAX_PREAUTH": "10", "STARLING_PROXY_PREAUTH_TIMEOUT": "2.5"})
    limits = conn_limits(cfg)
    assert limits.max_preauth == 10 and limits.preauth_deadline == 2.5 and limits.preauth_frame == 16384
    assert conn_limits(CenterConfig()).max_preauth == 256


@pytest.mark.parametrize("env", [{"STARLING_CENTER_PREAUTH_MAX_FRAME": "100"}, {"STARLING_CENTER_MAX_PREAUTH": "0"}, {"STARLING_CENTER_PREAUTH_TIMEOUT": "-1"}])
def test_nonsense_limits_are_a_config_error(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        conn_limits(load(CenterConfig, None, "center", env=env))


def test_max_connections_fits_the_open_files_limit() -> None:
    limits = conn_limits(ProxyConfig())
    fitted = fit_open_files(limits, 20_000, "proxy")
    assert fitted.max_connections == 20_000 - 256 and fitted.max_preauth == limits.max_preauth
    assert fit_open_files(limits, 1_000_000, "proxy") is limits


def test_roles_raise_the_soft_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard open-files limit to raise to")
    if soft == hard:
        soft = max(64, hard // 2)  # start the child lower, so raising shows
    code = (
        "import resource; from center._limits import raise_open_files_limit; "
        "n = raise_open_files_limit(); print(n, resource.getrlimit(resource.RLIMIT_NOFILE)[1])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", f"import resource; resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard})); {code}"],
        capture_output=True, text=True, timeout=60, check=True,
    )
    now, hard_seen = map(int, proc.stdout.split())
    assert now == hard_seen == hard
