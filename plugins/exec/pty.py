"""An interactive shell on a pseudo-terminal, relayed to the web terminal.

``exec.pty`` starts ``bash`` (not a login shell: no profile, no rc file) on a
new PTY with a controlled environment (C locale with UTF-8, ``TERM``,
``PATH``, ``HOME``, a plain prompt, no history file) under the same process
ownership as every task: the guardian leads the terminal's session, so
nothing the shell starts outlives the session or the agent. Screen output
goes up as ``stream_data`` on the stream the center named in the signed
params; keystrokes, window sizes (``TIOCSWINSZ``) and the close come down on
it. When the center grants a ``window`` (bytes), output is flow-controlled:
the PTY is read only while the center has room for more, so a browser that
reads slowly makes the program block on its writes, as over ssh. Ctrl-C is
the byte 0x03, handled by the terminal like on any console.
The session ends when the shell exits (its status is returned), when the
center closes the stream, after ``idle_timeout`` seconds without a keystroke
(A023), when input arrives faster than the shell takes it (A024), or when
input fails the session key sealed to this agent in the params (A010: a
proxy cannot inject keystrokes). Every
line reaches the shell only after the center's high-risk interception
checked it (docs/security.md).
"""

from __future__ import annotations

import os
import pwd
import shutil
from typing import Annotated, Any

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action, open_pty
from transports import StreamClose, StreamData, StreamResize

PLUGIN = Plugin("exec.pty", domain="exec", requires=("bash",))

#: Largest keystroke message written to the terminal at once (the center bounds pastes first).
MAX_INPUT = 64 * 1024
#: Bytes read from the terminal per output message.
READ_SIZE = 64 * 1024
#: Seconds the output gets after the shell exited (a background job may still hold the terminal),
#: not counting time spent waiting for the center's credit ...
DRAIN_GRACE = 0.5
#: ... which is bounded too: a browser that stopped reading does not hold the session open.
DRAIN_MAX = 30.0
PROMPT = r"\u@\h:\w\$ "


class PtyParams(msgspec.Struct, forbid_unknown_fields=True):
    stream_id: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
    cols: Annotated[int, msgspec.Meta(ge=2, le=1000)] = 80
    rows: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 24
    idle_timeout: Annotated[float, msgspec.Meta(ge=1, le=86400)] = 900.0
    #: The session key sealed to this agent's key: input must carry its MAC (transports._streamauth).
    input_key: Annotated[bytes, msgspec.Meta(max_length=256)] = b""
    #: Output flow control: bytes the center takes before it returns credit (0: none).
    window: Annotated[int, msgspec.Meta(ge=0, le=4 * 1024 * 1024)] = 0


class PtyResult(msgspec.Struct, omit_defaults=True):
    """How the session ended: the shell's ``status`` when it exited by itself."""

    ended: str
    status: int | None = None
    input_bytes: int = 0
    output_bytes: int = 0


def shell_env() -> dict[str, str]:
    """The shell's whole environment: nothing of the agent's leaks in but ``PATH``."""
    try:
        user = pwd.getpwuid(os.getuid())
        name, home = user.pw_name, user.pw_dir
    except KeyError:
        name, home = str(os.getuid()), "/"
    return {
        "PATH": os.environ.get("PATH") or "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": home if os.path.isdir(home) else "/",
        "USER": name,
        "LOGNAME": name,
        "SHELL": shutil.which("bash") or "/bin/bash",
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PS1": PROMPT,
        "HISTFILE": "",
    }


@action("exec.pty", risk=Risk.DANGER, timeout=8 * 3600, streams=True, interactive=True)
async def pty(ctx: ActionContext, p: PtyParams) -> PtyResult:
    """Run an interactive shell on a PTY for the web terminal, until it exits or the stream closes."""
    import trio

    env = shell_env()
    result = PtyResult(ended="exit")
    idle = False
    with ctx.open_stream(p.stream_id, p.input_key, p.window) as end:
        try:
            async with open_pty([env["SHELL"], "--noprofile", "--norc", "-i"], env=env, cwd=env["HOME"], cols=p.cols, rows=p.rows) as tty:
                await end.opened("pty")
                output_done = trio.Event()

                async def pump_out() -> None:
                    try:
                        while True:
                            room = await end.wait_credit()  # no credit: the PTY is not read
                            try:
                                chunk = await tty.stream.receive_some(min(READ_SIZE, room))
                            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                                break  # EIO: every holder of the terminal is gone
                            if not chunk:
                                break
                            result.output_bytes += len(chunk)
                            await end.send(bytes(chunk))
                    finally:
                        output_done.set()

                async def pump_in(scope: trio.CancelScope) -> None:
                    nonlocal idle
                    while True:
                        with trio.move_on_after(p.idle_timeout) as timer:
                            msg = await end.receive()
                        if timer.cancelled_caught:
                            idle, result.ended = True, "idle"
                            break
                        if msg is None:  # the inbound side was cut: forged input, or an overrun
                            result.ended = "forged" if end.forged.is_set() else "overrun"
                            break
                        if isinstance(msg, StreamClose):
                            result.ended = "closed"
                            break
                        if isinstance(msg, StreamResize):
                            tty.resize(max(2, min(msg.cols, 1000)), max(1, min(msg.rows, 1000)))
                        elif isinstance(msg, StreamData) and msg.data:
                            if len(msg.data) > MAX_INPUT:
                                result.ended = "overrun"
                                break
                            result.input_bytes += len(msg.data)
                            try:
                                await tty.stream.send_all(msg.data)
                            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                                return  # the shell is gone; its exit ends the session
                    scope.cancel()

                async def watch_overrun(scope: trio.CancelScope) -> None:
                    await end.overran.wait()  # pump_in may be stuck writing to a full terminal
                    result.ended = "overrun"
                    scope.cancel()

                async def watch_forged(scope: trio.CancelScope) -> None:
                    await end.forged.wait()
                    result.ended = "forged"
                    scope.cancel()

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(pump_out)
                    nursery.start_soon(pump_in, nursery.cancel_scope)
                    nursery.start_soon(watch_overrun, nursery.cancel_scope)
                    nursery.start_soon(watch_forged, nursery.cancel_scope)
                    await tty.proc.wait()
                    await _drain(output_done, end)
                    nursery.cancel_scope.cancel()
                rc = tty.proc.returncode
                if result.ended == "exit" and rc is not None:
                    result.status = rc if rc >= 0 else 128 - rc
        finally:
            code, message = _outcome(result, p.idle_timeout)
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                await end.close(code, message, result.status)
    if idle:
        raise ActionError(f"no keystroke for {p.idle_timeout:g}s; the terminal was closed", code=ErrorCode.A023, data=result)
    if result.ended == "forged":
        raise ActionError("terminal input failed the session key's check (injected on the way?); the terminal was closed", code=ErrorCode.A010, data=result)
    if result.ended == "overrun":
        raise ActionError("terminal input arrived faster than the shell read it; the terminal was closed", code=ErrorCode.A024, data=result)
    return result


async def _drain(output_done: Any, end: Any) -> None:
    """Let the output that is left reach the center after the shell exited: for
    :data:`DRAIN_GRACE` seconds of reading, plus the time spent waiting for credit
    (a slow browser still gets it all), :data:`DRAIN_MAX` at most."""
    import trio

    step = 0.05
    grace = DRAIN_GRACE
    with trio.move_on_after(DRAIN_MAX):
        while grace > 0 and not output_done.is_set():
            with trio.move_on_after(step):
                await output_done.wait()
            if not end.starved:
                grace -= step


def _outcome(result: PtyResult, idle_timeout: float) -> tuple[str, str]:
    if result.ended == "forged":
        return ErrorCode.A010.value, "terminal input failed the session key's check (injected on the way?); the terminal was closed"
    if result.ended == "idle":
        return ErrorCode.A023.value, f"no keystroke for {idle_timeout:g}s; the terminal was closed"
    if result.ended == "overrun":
        return ErrorCode.A024.value, "terminal input arrived faster than the shell read it; the terminal was closed"
    if result.ended == "closed":
        return "", "closed by the center"
    if result.status is None:
        return ErrorCode.A006.value, "the session was cancelled; its process tree was killed"
    return "", f"the shell exited with status {result.status}"
