"""The center refuses insane timeouts and deadlines at submit (C001), before anything is stored."""

from __future__ import annotations

import math

import pytest

from center._center import Center, JobRequest
from center._jobtimes import MAX_DEADLINE, MAX_TIMEOUT, MIN_TIMEOUT, check_job_times
from transports import ErrorCode, StarlingError
from transports._signing import DEFAULT_MAX_LIFETIME, DEFAULT_MAX_TIMEOUT


class _NoStore:
    """Any store access fails the test: the check must come first."""

    def __getattr__(self, name):
        raise AssertionError(f"the store was used ({name}) before the times were checked")


@pytest.fixture
def center():
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return Center(_NoStore(), ed25519.Ed25519PrivateKey.generate(), proxy_token="t")


BAD_TIMEOUTS = [0.0, -1.0, 1e-300, 1e308, -1e308, math.inf, -math.inf, math.nan, MAX_TIMEOUT + 1, MIN_TIMEOUT / 2]
BAD_DEADLINES = [-1.0, 1e308, -1e308, math.inf, math.nan, MAX_DEADLINE + 1]


@pytest.mark.parametrize("timeout", BAD_TIMEOUTS, ids=repr)
async def test_bad_timeout_is_refused_at_submit(center, timeout):  # noqa: ASYNC109 - the job's own timeout
    with pytest.raises(StarlingError, match="timeout") as exc:
        await center.submit(JobRequest(action="exec.run", params={"cmd": "true"}, all=True, timeout=timeout))
    assert exc.value.code is ErrorCode.C001


@pytest.mark.parametrize("deadline", BAD_DEADLINES, ids=repr)
async def test_bad_deadline_is_refused_at_submit(center, deadline):
    with pytest.raises(StarlingError, match="deadline") as exc:
        await center.submit(JobRequest(action="exec.run", params={"cmd": "true"}, all=True, deadline=deadline))
    assert exc.value.code is ErrorCode.C001


@pytest.mark.parametrize(("timeout", "deadline"), [(MIN_TIMEOUT, 0), (60, 0), (MAX_TIMEOUT, MAX_DEADLINE), (1, 0.5)])
def test_sane_times_pass(timeout, deadline):
    check_job_times(timeout, deadline)


def test_what_the_center_accepts_every_agent_accepts():
    """The center's bounds sit inside the agents' defaults, approval window included."""
    assert MAX_TIMEOUT <= DEFAULT_MAX_TIMEOUT
    assert MAX_DEADLINE <= DEFAULT_MAX_LIFETIME
    assert 24 * 3600 + MAX_TIMEOUT + 30 <= DEFAULT_MAX_LIFETIME  # held, approved late, default grace
