"""The CLI against a real center, proxy and agents: JSON you can trust (one name per id,
counts that agree with states, times and truncation present), --detach, Ctrl-C, paging,
--show-all, labelled streams, output not wrapped when piped, and reads that are not
audit records."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import BIN, Fleet

AGENTS = 10
FINAL = {"succeeded", "failed", "timed_out", "cancelled"}


def _consistent(job: dict) -> None:
    assert set(job) >= {"job_id", "action", "state", "total", "done", "complete", "counts", "truncated", "created", "finished"}
    assert "id" not in job
    assert job["done"] == sum(n for s, n in job["counts"].items() if s in FINAL)
    assert job["complete"] == (job["done"] == job["total"])
    if job["state"] in ("done", "cancelled"):
        assert job["complete"] and sum(job["counts"].values()) == job["total"] and job["finished"]


def test_run_and_job_json_name_every_id_once_and_agree(fleet: Fleet) -> None:
    doc = fleet.json("run", "--all", "--", "echo out; echo err >&2")
    _consistent(doc)
    assert doc["state"] == "done" and doc["counts"] == {"succeeded": AGENTS} and doc["truncated"] == 0
    for h in doc["hosts"]:
        assert set(h) >= {"task_id", "host_id", "hostname", "stdout", "stderr", "truncated", "times"} and "host" not in h
        assert h["task_id"].startswith(doc["job_id"]) and h["times"]["finished"] >= h["times"]["created"]
    again = fleet.json("job", doc["job_id"])
    assert {k: again[k] for k in ("job_id", "counts", "done", "complete", "state")} == {k: doc[k] for k in ("job_id", "counts", "done", "complete", "state")}
    listed = fleet.json("jobs", "--limit", "5")
    row = next(j for j in listed["jobs"] if j["job_id"] == doc["job_id"])
    _consistent(row)
    assert row["counts"] == {"succeeded": AGENTS} and row["truncated"] is None
    hosts = fleet.json("hosts")["hosts"]
    assert {h["host_id"] for h in hosts} == {h["host_id"] for h in doc["hosts"]} and all("id" not in h for h in hosts)


def test_the_output_cut_shows_in_summary_and_json(fleet: Fleet) -> None:
    host = fleet.json("hosts")["hosts"][0]["hostname"]
    big = "head -c 1100000 /dev/zero | tr '\\0' x"
    doc = fleet.json("run", "--host", host, "--", big)
    assert doc["truncated"] == 1 and doc["hosts"][0]["truncated"] is True
    text = fleet.cli("job", doc["job_id"]).stdout
    assert "output cut at 1 MiB on 1 host" in text and "[output truncated]" in text


def test_summary_labels_streams_lists_every_host_and_is_not_wrapped_when_piped(fleet: Fleet) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"STARLING_HOME": str(fleet.home)}
    long = "x" * 300
    proc = subprocess.run([str(BIN / "starling"), "run", "--all", "--", f"echo {long}; echo oops >&2"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "  stdout:\n" in proc.stdout and "  stderr:\n" in proc.stdout
    assert "    " + long + "\n" in proc.stdout  # one line, not wrapped at 80 columns
    assert "more (--show-all" in proc.stdout
    job_id = proc.stdout.split()[1]
    every = fleet.cli("job", job_id, "--show-all").stdout
    names = {h["hostname"] for h in fleet.json("hosts")["hosts"]}
    line = next(ln for ln in every.splitlines() if ln.strip().startswith(min(names)))
    assert {n.strip() for n in line.split(",")} == names


def test_detach_returns_the_job_id_at_once(fleet: Fleet) -> None:
    proc = fleet.cli("run", "--all", "--detach", "--", "sleep 3; echo late")
    assert proc.returncode == 0
    job_id = proc.stdout.strip()
    assert job_id.startswith("j") and "starling job" in proc.stderr
    assert fleet.json("job", job_id)["complete"] is False
    done = fleet.json("job", job_id, "--wait")
    _consistent(done)
    assert done["counts"] == {"succeeded": AGENTS}


@contextlib.contextmanager
def _following(fleet: Fleet, cmd: str) -> Iterator[tuple[subprocess.Popen[str], dict]]:
    """A `starling run --all -- CMD` process, once its job shows in `starling jobs`."""
    env = dict(os.environ, STARLING_HOME=str(fleet.home), COLUMNS="200")
    proc = subprocess.Popen([str(BIN / "starling"), "run", "--all", "--", cmd],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 30
        job = None
        while time.monotonic() < deadline and job is None:
            time.sleep(0.3)
            job = next((j for j in fleet.json("jobs", "--limit", "3")["jobs"] if j["action"] == "exec.run" and not j["complete"]), None)
        assert job is not None
        yield proc, job
    finally:
        if proc.poll() is None:
            proc.kill()


def test_ctrl_c_leaves_the_job_running_and_says_how_to_follow_or_cancel(fleet: Fleet) -> None:
    with _following(fleet, "sleep 20") as (proc, job):
        # What the CLI does with SIGINT (ignored? blocked?), for the message if it fails:
        # under pytest-xdist this test has seen the signal have no effect (not understood).
        status = Path(f"/proc/{proc.pid}/status").read_text()
        masks = [line for line in status.splitlines() if line.startswith(("SigBlk", "SigIgn", "SigCgt"))]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (masks, err)
    assert job["job_id"] in err and f"starling job {job['job_id']} --wait" in err and f"starling job {job['job_id']} --cancel" in err
    assert "Traceback" not in err
    assert fleet.json("job", job["job_id"])["state"] == "running"  # Ctrl-C did not cancel it
    fleet.cli("job", job["job_id"], "--cancel", check=True)


def test_hosts_and_jobs_page(fleet: Fleet) -> None:
    first = fleet.json("hosts", "--limit", "4")
    assert first["count"] == 4 and first["next"]
    rest = fleet.json("hosts", "--limit", "4", "--page", first["next"])
    every = fleet.json("hosts", "--limit", "3", "--all")
    assert every["next"] is None and every["count"] == AGENTS
    names = [h["hostname"] for h in every["hosts"]]
    assert names == sorted(names) and [h["hostname"] for h in first["hosts"] + rest["hosts"]] == names[:8]
    text = fleet.cli("hosts", "--limit", "4")
    assert "more: starling hosts --page" in text.stderr
    jobs = fleet.json("jobs", "--limit", "1")
    older = fleet.json("jobs", "--limit", "1", "--page", jobs["next"])
    assert jobs["jobs"][0]["created"] >= older["jobs"][0]["created"] and jobs["jobs"][0]["job_id"] != older["jobs"][0]["job_id"]


def test_reads_are_not_audit_records(fleet: Fleet) -> None:
    def tail() -> list[dict]:
        return fleet.json("audit", "list", "--limit", "10000")["records"]

    before = len(tail())
    job = fleet.json("run", "--all", "--", "true")
    fleet.json("job", job["job_id"])
    fleet.json("jobs")
    fleet.json("hosts", "--all")
    records = tail()[before:]
    kinds = [(r["kind"], r["subject"]) for r in records]
    # The submit is a write (audited); following it over server-sent events and reading
    # the job, the lists and the audit log itself are not.
    assert any(s.startswith("POST /v1/jobs") for _k, s in kinds), kinds
    assert not [s for _k, s in kinds if s.startswith("GET ")], kinds


@pytest.mark.parametrize("argv", [["job", "jnope"], ["run", "--host", "no-such-host", "--", "true"]])
def test_refusals_from_the_center_are_codes_with_exit_2(fleet: Fleet, argv: list[str]) -> None:
    proc = fleet.cli(*argv)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.split()[0] in ("C004", "C002", "C003")


def test_a_center_restart_while_following_names_the_job_and_exits_4(fleet: Fleet) -> None:
    # Last in this module: it restarts the fleet's center.
    with _following(fleet, "sleep 8") as (proc, job):
        fleet.cli("restart", "center", check=True)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 4 and "Traceback" not in err, (out, err)
    assert err.split()[0] == "C039" and f"starling job {job['job_id']} --wait" in err
    deadline = time.monotonic() + 60
    done = fleet.json("job", job["job_id"], "--wait")
    while "error" in done and time.monotonic() < deadline:  # the center is still coming back
        time.sleep(0.5)
        done = fleet.json("job", job["job_id"], "--wait")
    assert done["complete"] and done["counts"] == {"succeeded": AGENTS}, done


def test_progress_bar_on_a_terminal_only(fleet: Fleet) -> None:
    """The live bar is drawn on a terminal's stderr; piped, nothing is drawn (and rich's
    progress module is not even loaded while the job runs)."""
    import pty
    import threading

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"} | {"STARLING_HOME": str(fleet.home)}
    argv = [str(BIN / "starling"), "run", "--all", "--", "sleep 1.5; echo bar"]
    master, slave = pty.openpty()
    drawn = bytearray()

    def read() -> None:
        with contextlib.suppress(OSError):
            while chunk := os.read(master, 4096):
                drawn.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=slave, text=True, env=env, timeout=120)
    finally:
        os.close(slave)
        reader.join(timeout=10)
        os.close(master)
    assert proc.returncode == 0
    job_id = proc.stdout.split()[1]
    shown = drawn.decode(errors="replace")
    assert job_id in shown and f"/{AGENTS}" in shown, shown[-500:]  # "<job> ━━━ 3/10 ..."

    piped = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
