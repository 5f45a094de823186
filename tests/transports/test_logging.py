"""Structured logs: context fields as JSON keys, expected conditions as one line."""

from __future__ import annotations

import json
import logging

import trio

from transports import ErrorCode, JsonFormatter, run_handler, set_log_context


def _line(record: logging.LogRecord) -> dict:
    return json.loads(JsonFormatter().format(record))


def test_extra_fields_and_process_context_become_keys():
    set_log_context(proxy_id="proxy-9", idc="east")
    try:
        logger = logging.getLogger("starling.test")
        record = logger.makeRecord(
            "starling.test", logging.INFO, __file__, 1, "task %s done", ("j1-0",), None,
            extra={"task_id": "j1-0", "job_id": "j1", "agent_id": "a-1", "code": ErrorCode.A008, "seconds": 0.5, "skip": None},
        )
        doc = _line(record)
    finally:
        set_log_context(proxy_id=None, idc=None)
    assert doc["msg"] == "task j1-0 done" and doc["level"] == "info"
    assert (doc["task_id"], doc["job_id"], doc["agent_id"], doc["proxy_id"], doc["idc"]) == ("j1-0", "j1", "a-1", "proxy-9", "east")
    assert doc["code"] == "A008" and doc["seconds"] == 0.5 and doc["skip"] is None
    assert "proxy_id" not in _line(logging.getLogger("x").makeRecord("x", logging.INFO, __file__, 1, "m", (), None))


class _Silent:
    peer = "127.0.0.1:4242"
    closed = False

    async def aclose(self) -> None:
        self.closed = True


async def test_a_peer_that_says_nothing_in_time_is_one_info_line(caplog):
    async def handler(channel) -> None:
        with trio.fail_after(0.01):
            await trio.sleep_forever()

    channel = _Silent()
    with caplog.at_level(logging.DEBUG, logger="starling"):
        await run_handler(handler, channel)  # type: ignore[arg-type]
    records = [r for r in caplog.records if r.name.startswith("starling")]
    assert len(records) == 1
    (record,) = records
    assert record.levelno == logging.INFO and record.exc_info is None
    assert "sent nothing in time" in record.getMessage() and record.code == "P003"
    assert channel.closed


async def test_a_real_crash_is_still_logged_with_its_traceback(caplog):
    async def handler(channel) -> None:
        raise RuntimeError("bug")

    with caplog.at_level(logging.DEBUG, logger="starling"):
        await run_handler(handler, _Silent())  # type: ignore[arg-type]
    (record,) = [r for r in caplog.records if r.name.startswith("starling")]
    assert record.levelno == logging.ERROR and record.exc_info is not None
