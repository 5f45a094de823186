"""The agent's one lifecycle line per task (structured fields, one line)."""

from __future__ import annotations

import logging

from transports import Result, Task


def log_task_end(log: logging.Logger, task: Task, result: Result, agent_id: str) -> None:
    """One INFO line when a task ends here: what ran, how it ended, how long."""
    took = round(result.finished - result.started, 3) if result.started and result.finished else None
    log.info(
        "task %s %s %s%s",
        task.task_id,
        task.job.action,
        result.state,
        f" ({result.code})" if result.code else "",
        extra={
            "task_id": task.task_id, "job_id": task.job.job_id, "agent_id": agent_id, "action": task.job.action,
            "state": result.state, "code": result.code or None, "exit_code": result.exit_code, "seconds": took,
        },
    )
