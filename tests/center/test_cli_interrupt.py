"""Ctrl-C while ``starling run`` submits: the first one is held until the center has
answered, so the user still gets the job id (center/cli/_jobs.py ``interrupt_after``);
a second one interrupts at once. Real signals, in a child process."""

from __future__ import annotations

import subprocess
import sys

CHILD = r"""
import os, signal, time
from center.cli._jobs import interrupt_after

with interrupt_after() as pressed:
    os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C mid-submit
    time.sleep(0.05)                     # ... the submit goes on and completes
    print("submit completed", flush=True)
print("held:", pressed, flush=True)
assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored

try:
    with interrupt_after():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)  # pressed twice: give up on the submit
        time.sleep(5)
        print("not reached", flush=True)
except KeyboardInterrupt:
    print("second Ctrl-C interrupted", flush=True)

signal.signal(signal.SIGINT, signal.SIG_IGN)  # run under nohup: Ctrl-C stays ignored
with interrupt_after() as pressed:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)
print("ignored:", pressed, signal.getsignal(signal.SIGINT) is signal.SIG_IGN, flush=True)
"""


def test_first_ctrl_c_waits_for_the_submit_second_interrupts() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "submit completed",
        "held: [True]",
        "second Ctrl-C interrupted",
        "ignored: [] True",
    ], out.stdout + out.stderr


def test_an_unexpected_error_group_names_the_errors_inside() -> None:
    """trio's nurseries raise exception groups; the CLI's C041 message names what is inside."""
    from center.cli._main import _describe

    group = BaseExceptionGroup("Exceptions from Trio nursery (2 sub-exceptions)", [
        OSError(98, "Address already in use"), ExceptionGroup("inner", [ValueError("bad port")]),
    ])
    assert _describe(group) == "OSError: [Errno 98] Address already in use; ValueError: bad port"
    assert _describe(KeyError("x")) == "KeyError: 'x'"
