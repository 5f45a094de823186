"""A coded error that stops the agent (a refused enrollment) is reported with its code,
not a traceback, also when trio's nurseries wrapped it in exception groups."""

from __future__ import annotations

from agent_core._daemon import stopping_error
from transports import ErrorCode, StarlingError


def test_a_refusal_inside_nurseries_is_found() -> None:
    refused = StarlingError("this agent is revoked", code=ErrorCode.C019)
    assert stopping_error(refused) is refused
    wrapped = BaseExceptionGroup("outer", [ExceptionGroup("inner", [refused])])
    assert stopping_error(wrapped) is refused


def test_a_bug_beside_it_keeps_its_traceback() -> None:
    refused = StarlingError("this agent is revoked", code=ErrorCode.C019)
    assert stopping_error(ExceptionGroup("g", [refused, KeyError("bug")])) is None
    assert stopping_error(ExceptionGroup("g", [KeyError("bug")])) is None
    assert stopping_error(KeyError("bug")) is None
