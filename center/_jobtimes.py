"""Bounds on a submitted job's times, checked before anything is stored or signed.

The agent refuses a signed task whose timeout or lifetime is out of range
(A018, see ``transports._signing.check_task_window``); the center refuses the
same values earlier, at submit, with C001, so a caller learns at once and no
host ever sees them. The bounds (the API's, from ``_requests``) fit inside the
agent's defaults: a job the center accepts is never refused by an agent with
default limits.
"""

from __future__ import annotations

import math

from transports import ErrorCode, StarlingError

from ._requests import MAX_DEADLINE, MAX_TIMEOUT

__all__ = ["MAX_DEADLINE", "MAX_TIMEOUT", "MIN_TIMEOUT", "check_job_times"]

#: The shortest timeout accepted: below it no action can even start (as the
#: API's JobRequest declares).
MIN_TIMEOUT = 0.01


def check_job_times(timeout: float | None, deadline: float) -> None:
    """Refuse a timeout or deadline that is not a finite number in range.

    The API's typed request (``_requests.JobRequest``) already refuses most of
    these at decode; this check also covers a request built in Python, and the
    timeout an action declares in an agent's catalogue.

    :param timeout: seconds the action may run; within [MIN_TIMEOUT, MAX_TIMEOUT],
        or ``None`` for the action's declared timeout (checked once resolved).
    :param deadline: seconds from now until undelivered tasks fail; 0 for the
        default (timeout + dispatch grace), else within (0, MAX_DEADLINE].
    :raises StarlingError: C001 naming the field and the range.
    """
    if timeout is not None and not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and MIN_TIMEOUT <= timeout <= MAX_TIMEOUT):
        raise StarlingError(
            f"timeout must be a number of seconds within [{MIN_TIMEOUT:g}, {MAX_TIMEOUT:g}], not {timeout!r}",
            code=ErrorCode.C001,
        )
    if not (isinstance(deadline, (int, float)) and math.isfinite(deadline) and 0 <= deadline <= MAX_DEADLINE):
        raise StarlingError(
            f"deadline must be 0 (default) or a number of seconds within (0, {MAX_DEADLINE:g}], not {deadline!r}",
            code=ErrorCode.C001,
        )
