"""exec.pty: a real bash on a real PTY, driven through the agent's stream hub (no fleet).

Covers the shell's exit status, window size (TIOCSWINSZ), Ctrl-C as a byte,
the idle timeout (A023), input that outruns the shell (A024), the controlled
environment, that cancelling the task kills the whole process tree, and output
flow control (a window, and credit returned by the center).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psutil
import pytest
import trio

from agent_core import ActionContext, ActionError, TaskInfo
from agent_core.host import StreamHub
from plugins.exec.pty import PtyParams, pty, shell_env
from transports import StreamClose, StreamCredit, StreamData, StreamOpen, StreamResize

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


class Session:
    def __init__(self) -> None:
        self.up: list[Any] = []
        self.hub = StreamHub(self._send)
        self.ctx = ActionContext(task=TaskInfo("t-1", "j-1", "exec.pty"), streams=self.hub)
        self.result: Any = None
        self.error: ActionError | None = None

    async def _send(self, msg: Any) -> bool:
        self.up.append(msg)
        return True

    @property
    def output(self) -> str:
        return b"".join(m.data for m in self.up if isinstance(m, StreamData)).decode("utf-8", "replace")

    def type(self, data: str) -> None:
        self.hub.deliver(StreamData(stream_id=7, data=data.encode()))

    async def run(self, **params: Any) -> None:
        try:
            self.result = await pty.fn(self.ctx, PtyParams(stream_id=7, **params))
        except ActionError as exc:
            self.error = exc

    @asynccontextmanager
    async def running(self, **params: Any) -> AsyncIterator[None]:
        """The session running (its shell's prompt shown) for the block; leaving the block
        waits for the session to end (the block types ``exit``)."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: self.run(**params))
            await self.wait_for("# ")
            yield

    async def wait_for(self, text: str, after: int = 0) -> None:
        with trio.fail_after(20):
            while text not in self.output[after:]:
                await trio.sleep(0.02)


async def test_exit_status_resize_and_ctrl_c():
    s = Session()
    async with s.running(cols=90, rows=20, idle_timeout=30):
        assert isinstance(s.up[0], StreamOpen) and s.up[0].kind == "pty"
        s.type("stty size; echo x$((20+1))\r")
        await s.wait_for("20 90")
        s.hub.deliver(StreamResize(stream_id=7, cols=132, rows=43))
        mark = len(s.output)
        s.type("stty size\r")
        await s.wait_for("43 132", after=mark)
        s.type("sleep 30\r")
        await trio.sleep(0.3)
        s.type("\x03")
        mark = len(s.output)
        s.type("echo rc=$?\r")
        await s.wait_for("rc=130", after=mark)
        s.type("exit 4\r")
    assert s.result.status == 4 and s.result.ended == "exit"
    close = s.up[-1]
    assert isinstance(close, StreamClose) and close.status == 4 and close.code == ""


async def test_environment_is_controlled():
    s = Session()
    async with s.running(idle_timeout=30):
        s.type("echo [$LC_ALL] [$TERM] [$STARLING_SECRET_X] [$HISTFILE]\r")
        await s.wait_for("[C.UTF-8] [xterm-256color] [] []")
        s.type("exit\r")
    assert set(shell_env()) == {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LC_ALL", "PS1", "HISTFILE"}


async def test_idle_timeout_closes_with_a023():
    s = Session()
    with trio.fail_after(30):
        await s.run(idle_timeout=1)
    assert s.error is not None and s.error.code.value == "A023"
    assert isinstance(s.up[-1], StreamClose) and s.up[-1].code == "A023"


async def test_close_from_the_center_ends_the_session():
    s = Session()
    async with s.running(idle_timeout=30):
        s.hub.deliver(StreamClose(stream_id=7, message="closed by the user"))
    assert s.result.ended == "closed"


async def test_input_faster_than_the_shell_is_a024():
    s = Session()
    async with s.running(idle_timeout=30):
        s.type("sleep 30\r")  # the shell reads nothing meanwhile: the tty's buffer fills up
        for _ in range(5000):
            s.type("y" * 1000)
    assert s.error is not None and s.error.code.value == "A024"


async def test_cancel_kills_the_whole_tree():
    s = Session()
    me = psutil.Process()
    # Only what the session starts: the test run may hold other children (a test dockerd).
    before = {p.pid for p in me.children(recursive=True)}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: s.run(idle_timeout=30))
        await s.wait_for("# ")
        s.type("sleep 300 & sleep 301 & echo bg-$((1+1))\r")
        await s.wait_for("bg-2")
        # The agent's guardian server (started with its first child) is the agent's, not the session's.
        tree = [p for p in me.children(recursive=True) if p.pid not in before and "--serve" not in p.cmdline()]
        assert any("sleep" in (p.name() or "") for p in tree)
        nursery.cancel_scope.cancel()
    with trio.fail_after(15):
        while any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in tree):
            await trio.sleep(0.1)


def _keyed_session(task_id: str) -> tuple[Session, bytes, bytes]:
    """A session whose hub unseals with a fresh agent key: ``(session, session key, the key
    sealed for that agent)`` — what the center puts in a terminal's params."""
    from nacl.signing import SigningKey

    from transports.streamauth import new_session_key, open_session_key, seal_session_key

    agent_key = SigningKey.generate()
    key = new_session_key()
    s = Session()
    s.hub = StreamHub(s._send, unseal=lambda b: open_session_key(b, agent_key))
    s.ctx = ActionContext(task=TaskInfo(task_id, "j" + task_id[1:], "exec.pty"), streams=s.hub)
    return s, key, seal_session_key(key, bytes(agent_key.verify_key))


async def test_input_must_carry_the_session_keys_mac():
    """A sealed session key in the params: MAC-ed input is typed, anything else ends the session (A010)."""
    from transports.streamauth import stream_mac

    s, key, sealed = _keyed_session("t-2")

    def signed(data: str, seq: int) -> StreamData:
        msg = StreamData(stream_id=7, seq=seq, data=data.encode())
        msg.mac = stream_mac(key, msg)
        return msg

    async with s.running(idle_timeout=30, input_key=sealed):
        s.hub.deliver(signed("echo mac-$((1+1))\r", 1))
        await s.wait_for("mac-2")
        s.hub.deliver(signed("echo replayed\r", 1))  # an old seq: replay
    assert s.error is not None and s.error.code.value == "A010"
    assert "replayed" not in s.output
    assert isinstance(s.up[-1], StreamClose) and s.up[-1].code == "A010"


async def test_a_key_sealed_to_another_agent_is_refused():
    from nacl.signing import SigningKey

    from transports.streamauth import new_session_key, open_session_key, seal_session_key

    mine, other = SigningKey.generate(), SigningKey.generate()
    s = Session()
    s.hub = StreamHub(s._send, unseal=lambda b: open_session_key(b, mine))
    s.ctx = ActionContext(task=TaskInfo("t-3", "j-3", "exec.pty"), streams=s.hub)
    with pytest.raises(ActionError) as info:
        await pty.fn(s.ctx, PtyParams(stream_id=7, input_key=seal_session_key(new_session_key(), bytes(other.verify_key))))
    assert info.value.code.value == "A010"


def _sent(s: Session) -> int:
    return sum(len(m.data) for m in s.up if isinstance(m, StreamData))


async def test_output_waits_for_credit_and_arrives_whole():
    """With a window, the agent sends at most the credit it has: without credit the PTY
    is not read and the program blocks on its write (it stays alive, nothing queues);
    credit returned bit by bit (a slow browser) brings the rest, complete and in order."""
    window = 16384
    s = Session()
    me = psutil.Process()
    async with s.running(idle_timeout=60, window=window):
        s.hub.deliver(StreamCredit(stream_id=7, grant=_sent(s)))  # the prompt was taken
        start = _sent(s)
        s.type("seq 1 100000; echo seq-$((2+3))-done\r")  # ~590 kB of output
        with trio.fail_after(10):
            while _sent(s) < start + window - 512:
                await trio.sleep(0.02)
        await trio.sleep(0.5)
        # No credit: output stopped at the window, and seq waits on its write.
        assert _sent(s) <= start + window
        seqs = [p for p in me.children(recursive=True) if p.name() == "seq"]
        assert seqs and all(p.status() != psutil.STATUS_ZOMBIE for p in seqs)
        taken = start
        with trio.fail_after(60):
            while "seq-5-done" not in s.output[-200:]:
                now = _sent(s)
                if now > taken:
                    s.hub.deliver(StreamCredit(stream_id=7, grant=now - taken))
                    taken = now
                assert now <= taken + window  # never more in flight than the window
                await trio.sleep(0.002)
        s.type("exit 3\r")
    assert s.result is not None and s.result.status == 3, s.error
    text = s.output.replace("\r\n", "\n")
    body = text[text.index("-done\n") + len("-done\n") : text.index("seq-5-done")]
    body = re.sub(r"^\x1b\[\?2004l\r?", "", body)  # readline leaving bracketed-paste mode
    assert body.split("\n")[:-1] == [str(i) for i in range(1, 100001)]


async def test_without_a_window_output_is_not_held():
    s = Session()
    async with s.running(idle_timeout=60):
        s.type("head -c 300000 /dev/zero | tr '\\0' x; echo; echo all-$((1+1))\r")
        with trio.fail_after(20):
            while "all-2" not in s.output[-100:]:
                await trio.sleep(0.02)
        s.type("exit\r")
    assert s.output.count("x") >= 300000


async def test_credit_must_carry_the_session_keys_mac():
    """Credit goes down like input: on a stream with a session key, unauthenticated credit
    (a proxy making the agent send more than the center allowed) ends the session (A010)."""
    from transports.streamauth import stream_mac

    s, key, sealed = _keyed_session("t-4")
    async with s.running(idle_timeout=30, window=65536, input_key=sealed):
        good = StreamCredit(stream_id=7, seq=1, grant=4096)
        good.mac = stream_mac(key, good)
        s.hub.deliver(good)
        await trio.sleep(0.1)
        assert s.error is None and s.result is None
        s.hub.deliver(StreamCredit(stream_id=7, seq=2, grant=1 << 30))
    assert s.error is not None and s.error.code.value == "A010"


async def test_output_left_when_the_shell_exits_waits_for_credit():
    """The shell exits with output still in the terminal and no credit: the agent keeps the
    session until credit brings the rest (time waiting for credit does not count against the
    drain's grace), then reports the exit status."""
    window = 4096
    s = Session()
    async with s.running(idle_timeout=60, window=window):
        taken = _sent(s)
        s.hub.deliver(StreamCredit(stream_id=7, grant=taken))
        s.type("seq 1 3000; exit 3\r")  # ~14 kB, more than the window
        with trio.fail_after(30):
            while s.result is None and s.error is None:
                await trio.sleep(0.3)  # a browser taking 4 kB at a time, slowly
                now = _sent(s)
                if now > taken:
                    s.hub.deliver(StreamCredit(stream_id=7, grant=now - taken))
                    taken = now
    assert s.result is not None and s.result.status == 3, s.error
    text = re.sub(r"\x1b\[\?2004[hl]\r?", "", s.output.replace("\r\n", "\n"))  # readline's bracketed-paste mode
    assert [int(x) for x in re.findall(r"(?m)^(\d+)$", text)] == list(range(1, 3001))
