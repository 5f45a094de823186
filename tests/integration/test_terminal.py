"""The web terminal end to end: a real center, proxy and agents (processes, TLS,
loopback), a real bash on a PTY, and a WebSocket client (trio-websocket).

Interception is exercised only with the harmless marker rule
(tests/integration/data/marker-rules.toml blocks ``echo FORBIDDEN-MARKER``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import trio

from center import Client
from center._termclient import console_cookie, open_terminal
from center.cli._client import ApiError
from transports import ErrorCode, client_context

from .conftest import Fleet, up_fleet

pytestmark = pytest.mark.integration
pytest.importorskip("trio_websocket", reason="trio-websocket is not installed (pip install -e '.[test]')")

MARKER_RULES = Path(__file__).with_name("data") / "marker-rules.toml"
PORTAL = "https://portal.example"
IDLE = 10.0
MAX_INPUT = 65536
#: Longest a keystroke's echo may take while another session on the host floods (a stall
#: or a closed session fails; far above the few tens of ms it takes on a quiet machine).
ECHO_BOUND = 5.0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    env = {
        "STARLING_CENTER_RISK_RULES": str(MARKER_RULES),
        "STARLING_CENTER_CONSOLE": json.dumps({"allowed_origins": [PORTAL], "terminal_idle_timeout": IDLE, "terminal_max_input": MAX_INPUT}),
    }
    with up_fleet(tmp_path_factory.mktemp("terminal"), 2, env=env) as fleet:
        p = fleet.profile
        admin = Client(p["api"], p["key_id"], p["secret"], p["ca_file"])
        hosts = sorted(h["hostname"] for h in admin.hosts())
        yield {
            "fleet": fleet, "p": p, "admin": admin, "hosts": hosts,
            "cookie": console_cookie(p["api"], p["key_id"], p["secret"], p["ca_file"]),
        }
        admin.close()


def term(w: dict[str, Any], host: str | None = None, **kw: Any) -> Any:
    p = w["p"]
    kw.setdefault("cookie", w["cookie"] if "token" not in kw else "")
    return open_terminal(p["api"], host or w["hosts"][0], ca_file=p["ca_file"], **kw)


async def test_type_read_resize_ctrl_c_and_exit_status(world):
    async with term(world, cols=100, rows=30) as t:
        assert t.ready["type"] == "ready" and t.ready["host"] == world["hosts"][0], t.frames
        await t.send_input("echo hel''lo-$((6*7))\r")
        await t.read_until("hello-42\r\n")
        mark = len(t.output)
        await t.send_input("stty size\r")
        await t.read_until("30 100", after=mark)
        await t.resize(120, 40)
        mark = len(t.output)
        await t.send_input("stty size\r")
        await t.read_until("40 120", after=mark)
        # Ctrl-C is the byte 0x03: the terminal interrupts the foreground job.
        await t.send_input("sleep 30\r")
        await trio.sleep(0.5)
        started = time.monotonic()
        await t.send_input("\x03")
        mark = len(t.output)
        await t.send_input("echo status=$?\r")
        await t.read_until("status=130", after=mark)
        assert time.monotonic() - started < 10
        await t.send_input("exit 7\r")
        await t.drain()
    assert t.final == {"type": "exit", "status": 7, "code": None, "message": "the shell exited with status 7"}
    assert t.close_code == 1000


async def test_idle_timeout_ends_the_session_with_its_code(world):
    async with term(world) as t:
        assert t.ready
        with trio.fail_after(IDLE + 20):
            await t.drain()
    assert t.final is not None and t.final["type"] == "exit" and t.final["code"] == "A023", t.frames
    assert t.close_code == 1000


async def test_marker_line_is_refused_and_never_runs(world):
    async with term(world) as t:
        await t.send_input("echo FORBIDDEN-MARKER\r")
        refused = await t.wait_frame("refused")
        assert refused["code"] == "C010" and refused["rule"] == "test.forbidden-marker"
        assert refused["line"] == "echo FORBIDDEN-MARKER" and refused["message"] and refused["hint"]
        # Quoting tricks, and the line recalled from history with the arrow key, are refused too.
        await t.send_input("echo 'FORBIDDEN'-MARKER\r")
        assert (await t.wait_frame("refused"))["code"] == "C010"
        await t.send_input("echo harmless FORBIDDEN\r")
        await t.read_until("\rharmless FORBIDDEN\r\n")
        await t.send_input("\x1b[A")  # history recall: only the screen shows the line
        await trio.sleep(0.5)
        await t.send_input("\x05-MARKER\r")  # ^E, then append: "echo harmless FORBIDDEN-MARKER"
        assert (await t.wait_frame("refused"))["code"] == "C010"
        mark = len(t.output)
        await t.send_input("echo still-''alive\r")
        await t.read_until("still-alive\r\n", after=mark)
        await t.close()
        await t.drain()
    lines = t.output.replace("\r", "").split("\n")
    assert "FORBIDDEN-MARKER" not in lines and "harmless FORBIDDEN-MARKER" not in lines, lines


async def test_pasted_lines_are_checked_one_by_one(world):
    async with term(world) as t:
        await t.send_input("\x1b[200~echo one-$((0+1))\necho FORBIDDEN-MARKER\necho three-$((1+2))\n\x1b[201~")
        refused = await t.wait_frame("refused")
        assert refused["line"] == "echo FORBIDDEN-MARKER"
        await t.read_until("three-3\r\n")
        assert "one-1\r\n" in t.output
        await t.close()
        await t.drain()
    assert "FORBIDDEN-MARKER" not in t.output.replace("\r", "").split("\n")


async def test_huge_paste_is_refused_with_a_code(world):
    async with term(world) as t:
        await t.send_input("x" * (MAX_INPUT + 1))
        refused = await t.wait_frame("refused")
        assert refused["code"] == "A024" and refused["rule"] == "max_input"
        mark = len(t.output)
        await t.send_input("echo after-''paste\r")
        await t.read_until("after-paste\r\n", after=mark)
        await t.close()
        await t.drain()


async def test_binary_output_arrives_as_valid_text(world):
    async with term(world) as t:
        # Bytes that are not UTF-8, without control characters: random escape sequences would
        # also (legitimately) reprogram the terminal, which is not what this test is about.
        await t.send_input("head -c 20000 /dev/urandom | tr -d '\\000-\\037\\177'; echo; echo END-OF-''BINARY\r")
        await t.read_until("END-OF-BINARY\r\n")
        assert "\ufffd" in t.output  # invalid UTF-8 became replacement characters
        mark = len(t.output)
        await t.send_input("echo fi''ne\r")
        await t.read_until("fine\r\n", after=mark)
        await t.close()
        await t.drain()
    assert t.final is not None and t.final["type"] == "exit"


async def test_bad_frames_and_bad_query(world):
    async with term(world, cols=5000) as t:
        await t.drain()
    assert t.final["code"] == "C001" and t.close_code == 4400
    async with term(world, host="no-such-host") as t:
        await t.drain()
    assert t.final["code"] == "C002" and t.close_code == 4404
    async with term(world) as t:
        await t.send({"type": "nonsense"})
        await t.drain()
    assert t.final["type"] == "error" and t.final["code"] == "C001" and t.close_code == 4400


def _token(w: dict[str, Any], host: str, client: Client | None = None, **kw: Any) -> dict[str, Any]:
    return (client or w["admin"]).request("POST", "/api/v1/terminal/tokens", json_body={"host": host, **kw})


async def test_tokens_single_use_expiry_host_and_origin(world):
    host, other = world["hosts"]
    tok = _token(world, host)
    assert tok["host"] == host and tok["account"] == world["p"]["key_id"] and tok["expires_at"] > time.time()
    async with term(world, token=tok["token"], origin="https://evil.example") as t:
        await t.drain()
    assert (t.final["code"], t.close_code) == ("C037", 4403)
    tok = _token(world, host)
    async with term(world, token=tok["token"], origin=PORTAL) as t:
        assert t.ready, t.frames
        await t.send_input("echo via-''token\r")
        await t.read_until("via-token\r\n")
        await t.close()
        await t.drain()
    async with term(world, token=tok["token"], origin=PORTAL) as t:  # reused
        await t.drain()
    assert (t.final["code"], t.close_code) == ("C036", 4401)
    async with term(world, token="not-a-token", origin=PORTAL) as t:
        await t.drain()
    assert (t.final["code"], t.close_code) == ("C036", 4401)
    short = _token(world, host, ttl=0.5)
    await trio.sleep(1.0)
    async with term(world, token=short["token"], origin=PORTAL) as t:
        await t.drain()
    assert (t.final["code"], t.close_code) == ("C036", 4401) and "expired" in t.final["message"]
    wrong = _token(world, host)
    async with term(world, other, token=wrong["token"], origin=PORTAL) as t:
        await t.drain()
    assert (t.final["code"], t.close_code) == ("C009", 4403)
    with pytest.raises(ApiError) as info:
        _token(world, host, ttl=1000)  # above [console] terminal_token_max_ttl
    assert info.value.code == ErrorCode.C001 and info.value.status == 400


async def test_cookie_needs_the_console_origin(world):
    async with term(world, origin=PORTAL) as t:
        await t.drain()
    assert (t.final["code"], t.close_code) == ("C037", 4403)
    async with term(world, cookie="") as t:
        await t.drain()
    assert (t.final["code"], t.close_code) == ("C007", 4401)


async def test_out_of_scope_host(world):
    host, other = world["hosts"]
    acct = world["admin"].request("POST", "/v1/accounts", json_body={"name": "term-one-host", "scopes": {"actions": ["exec.pty"], "hosts": [host]}})
    p = world["p"]
    scoped = Client(p["api"], acct["key_id"], acct["secret"], p["ca_file"])
    cookie = console_cookie(p["api"], acct["key_id"], acct["secret"], p["ca_file"])
    async with term(world, host, cookie=cookie) as t:
        assert t.ready, t.frames
        await t.close()
        await t.drain()
    async with term(world, other, cookie=cookie) as t:
        await t.drain()
    assert (t.final["code"], t.close_code) == ("C009", 4403)
    with pytest.raises(ApiError) as info:
        _token(world, other, client=scoped)
    assert info.value.code == ErrorCode.C002 and info.value.status == 404
    scoped.close()


async def test_audit_replay_prints_the_session(world):
    async with term(world) as t:
        await t.send_input("echo replay-me-$((40+2))\r")
        await t.read_until("replay-me-42\r\n")
        await t.send_input("echo FORBIDDEN-MARKER\r")
        await t.wait_frame("refused")
        await t.send_input("exit 3\r")
        await t.drain()
    session = t.ready["session"]
    fleet: Fleet = world["fleet"]
    deadline = time.monotonic() + 20
    while True:  # the audit trail is written in batches
        out = fleet.cli("audit", "replay", session, "--refused")
        if out.returncode == 0 and "ended:" in out.stderr or time.monotonic() > deadline:
            break
        await trio.sleep(0.5)
    assert out.returncode == 0, out.stderr
    assert "replay-me-42" in out.stdout and "echo FORBIDDEN-MARKER" in out.stderr and "status=3" in out.stderr
    doc = fleet.json("audit", "replay", session)
    kinds = {e["kind"] for e in doc["events"]}
    assert kinds == {"input", "output", "refused"}
    assert [r["kind"] for r in doc["records"]] == ["terminal.open", "terminal.close"]
    assert doc["records"][0]["detail"]["hostname"] == world["hosts"][0]
    assert doc["records"][0]["detail"]["input_auth"] is True  # keystrokes were MAC-ed end to end
    assert fleet.json("audit", "verify")["ok"]


async def test_bad_inputs_get_their_codes_while_another_session_types(world):
    """Issue 10's bad-input list, all at once, while a healthy session on the same center
    types and reads its echoes: each bad input gets its code and close code, and the healthy
    session never notices."""
    host, other = world["hosts"]
    acct = world["admin"].request("POST", "/v1/accounts", json_body={"name": "term-bad-inputs", "scopes": {"actions": ["exec.pty"], "hosts": [host]}})
    p = world["p"]
    scoped_cookie = await trio.to_thread.run_sync(console_cookie, p["api"], acct["key_id"], acct["secret"], p["ca_file"])
    expired = await trio.to_thread.run_sync(lambda: _token(world, host, ttl=0.5))
    await trio.sleep(1.0)
    got: dict[str, Any] = {}
    bad_done = trio.Event()

    async def ends_with(name: str, **kw: Any) -> None:
        async with term(world, **kw) as t:
            with trio.fail_after(60):
                await t.drain()
        got[name] = ((t.final or {}).get("code"), t.close_code)

    async def huge_paste_then_binary() -> None:
        async with term(world, host) as t:
            await t.send_input("x" * (MAX_INPUT + 1))
            refused = await t.wait_frame("refused")
            mark = len(t.output)
            await t.send_input("\x15head -c 3000 /dev/urandom | tr -d '\\000-\\037\\177'; echo; echo BIN-''DONE\r")
            await t.read_until("BIN-DONE\r\n", after=mark)
            got["huge paste"] = (refused["code"], refused["rule"])
            got["binary output"] = "\ufffd" in t.output[mark:]
            await t.close()
            await t.drain()

    async def bad_inputs() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: ends_with("wrong token", host=host, token="not-a-token", origin=PORTAL))
            nursery.start_soon(lambda: ends_with("expired token", host=host, token=expired["token"], origin=PORTAL))
            nursery.start_soon(lambda: ends_with("disallowed origin", host=host, origin="https://evil.example"))
            nursery.start_soon(lambda: ends_with("host outside the scope", host=other, cookie=scoped_cookie))
            nursery.start_soon(lambda: ends_with("unknown host", host="no-such-host"))
            nursery.start_soon(huge_paste_then_binary)
        bad_done.set()

    async with term(world, host) as healthy:
        assert healthy.ready, healthy.frames
        await healthy.read_until("# ")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(bad_inputs)
            keys = 0
            while not bad_done.is_set() or keys < 10:
                ch = "abcdefghijklmnopqrstuvwxyz"[keys % 26]
                mark = len(healthy.output)
                await healthy.send_input(ch)
                with trio.fail_after(30):
                    await healthy.read_until(ch, after=mark)
                keys += 1
                await trio.sleep(0.02)
        await healthy.send_input("\x15echo still-''serving\r")
        await healthy.read_until("still-serving\r\n")
        await healthy.close()
        await healthy.drain()
    assert healthy.final is not None and healthy.final["type"] == "exit" and healthy.close_code == 1000
    assert got == {
        "wrong token": ("C036", 4401),
        "expired token": ("C036", 4401),
        "disallowed origin": ("C037", 4403),
        "host outside the scope": ("C009", 4403),
        "unknown host": ("C002", 4404),
        "huge paste": ("A024", "max_input"),
        "binary output": True,
    }


def _proxy_open_streams(w: dict[str, Any]) -> float:
    """The proxy's ``starling_proxy_open_streams`` gauge (waits a little for the last closes)."""
    url = next(iter(w["p"]["proxy_http"].values())) + "/metrics"
    deadline = time.monotonic() + 10
    while True:
        text = httpx.get(url, timeout=10).text
        value = float(next(line.split()[1] for line in text.splitlines() if line.startswith("starling_proxy_open_streams ")))
        if value == 0 or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _closes(w: dict[str, Any], sessions: list[str]) -> dict[str, dict[str, Any]]:
    """The ``terminal.close`` audit record of each session (waits for the batched writes)."""
    found: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 30
    while len(found) < len(sessions) and time.monotonic() < deadline:
        for sid in sessions:
            if sid not in found:
                recs = w["admin"].request("GET", "/v1/audit", params={"subject": sid})["records"]
                for rec in recs:
                    if rec["kind"] == "terminal.close":
                        found[sid] = rec["detail"]
        time.sleep(0.3)
    return found


async def test_many_sessions_ending_at_once_lose_nothing(world):
    """Issue 10's 200-session hang: terminals ending while others type. Sessions that
    print output end, again and again, half closed by the client and half by their shell;
    meanwhile other sessions on the same agent type and must get every echo. Before the
    fix, the agent's sender that an ending session had been using was cancelled with
    other sessions' echoes in its hands: those were lost and their clients waited for ever."""
    host = world["hosts"][0]
    typers, closers, exiters, rounds = 8, 4, 4, 4
    typed: list[Any] = []
    ended: list[tuple[bool, Any]] = []
    floods_done = trio.Event()
    running = [closers + exiters]

    async def typer() -> None:
        async with term(world, host) as t:
            assert t.ready, t.frames
            await t.read_until("# ")
            keys = 0
            while not floods_done.is_set() or keys < 10:
                ch = "abcdefghijklmnopqrstuvwxyz"[keys % 26]
                mark = len(t.output)
                await t.send_input(ch)
                with trio.fail_after(30):  # an echo lost on the way never comes
                    await t.read_until(ch, after=mark)
                keys += 1
                if keys % 50 == 0:
                    await t.send_input("\x15")  # ^U: keep the line short
            await t.send_input("\x15exit 0\r")
            with trio.fail_after(30):
                await t.drain()
            typed.append(t)

    async def flood(client_closes: bool) -> None:
        for _ in range(rounds):
            async with term(world, host) as t:
                assert t.ready, t.frames
                await t.read_until("# ")
                # 200 kB of output (all floods together stay under every relay queue's bound),
                # ended by the client at its first line or by the shell after its last.
                await t.send_input(f"yes tick-tick-tick | head -c 200000{'' if client_closes else '; exit 5'}\r")
                mark = len(t.output)
                while "tick-tick" not in t.output[mark:]:
                    assert await t.receive() is not None, t.frames
                if client_closes:
                    await t.close()
                with trio.fail_after(60):
                    await t.drain()
                ended.append((client_closes, t))
        running[0] -= 1
        if not running[0]:
            floods_done.set()

    async with trio.open_nursery() as nursery:
        for _ in range(typers):
            nursery.start_soon(typer)
        for i in range(closers + exiters):
            nursery.start_soon(flood, i < closers)
    assert len(typed) == typers and len(ended) == (closers + exiters) * rounds
    for t in typed:
        assert t.final == {"type": "exit", "status": 0, "code": None, "message": "the shell exited with status 0"}, t.frames
    for client_closes, t in ended:
        want = {"status": None, "message": "closed by the user"} if client_closes else {"status": 5, "message": "the shell exited with status 5"}
        assert t.final is not None and t.final["type"] == "exit" and t.final["code"] is None, t.frames
        assert {k: t.final[k] for k in want} == want, t.final
    everyone = typed + [t for _, t in ended]
    assert all(t.close_code == 1000 for t in everyone), [t.close_code for t in everyone]
    # Every session left its audit record of how it ended.
    closes = await trio.to_thread.run_sync(_closes, world, [t.ready["session"] for t in everyone])
    assert len(closes) == len(everyone)
    statuses = sorted(c["status"] for c in closes.values() if c["status"] is not None)
    assert statuses == [0] * typers + [5] * exiters * rounds
    # And the proxy released every route (each ending, from either side, closes it).
    assert await trio.to_thread.run_sync(_proxy_open_streams, world) == 0


def _flood_file(path: Path, size: int) -> bytes:
    """``size`` bytes of numbered lines between runs of NUL bytes: checkable in order, and
    cheap for the center's screen emulation (pyte skips NUL ~5x faster than text)."""
    blocks, i, total = [], 0, 0
    while total < size:
        block = b"\0" * 4000 + b"line-%08d\n" % i
        blocks.append(block)
        total += len(block)
        i += 1
    data = b"".join(blocks)
    path.write_bytes(data)
    return data


async def test_a_flood_is_flow_controlled_and_its_neighbour_types_on(world, tmp_path):
    """Issue 10, per-session flow control. One session prints 16 MB while its browser first
    stops reading for a while, then reads slowly; a second session on the same agent (same
    proxy links) types all along. The quiet session gets every echo within a bound and
    neither is closed; the flood arrives complete and in order. Before flow control the
    flood filled the center's 8 MiB queue for its browser and was closed with A024."""
    host = world["hosts"][0]
    expected = _flood_file(tmp_path / "flood.bin", 16_000_000)
    flood_started = trio.Event()
    flood_done = trio.Event()
    echoes: list[float] = []

    async def typer() -> Any:
        async with term(world, host) as t:
            await t.read_until("# ")
            await flood_started.wait()
            keys = 0
            while not flood_done.is_set() or keys < 20:
                ch = "abcdefghijklmnopqrstuvwxyz"[keys % 26]
                mark = len(t.output)
                began = time.monotonic()
                await t.send_input(ch)
                with trio.fail_after(30):
                    await t.read_until(ch, after=mark)
                echoes.append(time.monotonic() - began)
                keys += 1
                if keys % 50 == 0:
                    await t.send_input("\x15")
                await trio.sleep(0.05)
            await t.send_input("\x15exit 0\r")
            with trio.fail_after(30):
                await t.drain()
            return t

    async def keep_alive(t: Any) -> None:
        # The fixture's idle timeout is short; the same size again is activity, not a keystroke.
        while True:
            with trio.move_on_after(2):
                await flood_done.wait()
                return
            await t.resize(80, 24)

    async def flooder() -> Any:
        async with term(world, host, message_queue_size=1) as t, trio.open_nursery() as nursery:
            await t.read_until("# ")
            nursery.start_soon(keep_alive, t)
            await t.send_input(f"cat {tmp_path / 'flood.bin'}; echo flood-$((1+1))-done\r")
            flood_started.set()
            await t.read_until("line-00000000")
            await trio.sleep(3)  # a browser that stopped reading: the agent must stop, not queue
            with trio.fail_after(300):
                while "flood-2-done" not in t.output[-200:]:
                    frame = await t.receive()
                    assert frame is not None and frame["type"] == "output", (frame, t.close_code, t.frames)
                    await trio.sleep(0.002)  # and then reads slowly
            flood_done.set()
            await t.send_input("exit 0\r")
            with trio.fail_after(30):
                await t.drain()
            return t

    done: dict[str, Any] = {}

    async def run(name: str, fn: Any) -> None:
        done[name] = await fn()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run, "typer", typer)
        nursery.start_soon(run, "flooder", flooder)
    for t in done.values():
        assert t.final == {"type": "exit", "status": 0, "code": None, "message": "the shell exited with status 0"}, t.frames
        assert t.close_code == 1000
    # The session ran with a window (its proxy and agent both have flow control).
    sid = done["flooder"].ready["session"]
    opened = [r for r in world["admin"].request("GET", "/v1/audit", params={"subject": sid})["records"] if r["kind"] == "terminal.open"]
    assert opened and opened[0]["detail"]["window"] == 262144, opened
    text = done["flooder"].output.replace("\r\n", "\n")
    start = text.index("-done\n") + len("-done\n")
    body = re.sub(r"^\x1b\[\?2004l\r?", "", text[start : text.index("flood-2-done")])
    assert body.encode() == expected, f"flood output differs: {len(body)} of {len(expected)} bytes"
    echoes.sort()
    print(f"echoes beside the flood: {len(echoes)}, median {echoes[len(echoes) // 2] * 1000:.1f} ms, max {echoes[-1] * 1000:.1f} ms")
    assert len(echoes) >= 20 and max(echoes) < ECHO_BOUND, f"echoes: max {max(echoes):.3f}s of {len(echoes)}"


def _tree_of(pid: int) -> list[int]:
    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


async def test_agent_killed_mid_session(world):
    """Last: kills the second host's agent. The session ends with P002; the center serves on."""
    _, other = world["hosts"]
    agent = next(a for a in world["p"]["agents"] if a["hostname"] == other)
    async with term(world, other) as t:
        assert t.ready, t.frames
        await t.send_input("sleep 300 & echo started-$!\r")
        await t.read_until("started-")
        before = set(_tree_of(agent["pid"]))
        assert before
        os.kill(agent["pid"], signal.SIGKILL)
        with trio.fail_after(60):
            await t.drain()
    assert t.final["type"] == "error" and t.final["code"] == "P002", t.frames
    assert t.close_code == 1011
    # Nothing of the session outlives its agent (the guardian kills the tree).
    with trio.fail_after(20):
        while any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in before):
            await trio.sleep(0.2)
    # The center keeps serving: health, and a terminal on the other host.
    p = world["p"]
    health = await trio.to_thread.run_sync(lambda: httpx.get(p["api"] + "/v1/health", verify=client_context(p["ca_file"])).json())
    assert health["ok"]
    async with term(world) as t:
        assert t.ready
        await t.close()
        await t.drain()


async def test_proxy_killed_mid_session(world):
    """Very last: kills the proxy. The session ends with P007; the center serves on."""
    proxy = next(r for r in world["p"]["roles"] if r["role"] == "proxy")
    agent = next(a for a in world["p"]["agents"] if a["hostname"] == world["hosts"][0])
    async with term(world) as t:
        assert t.ready, t.frames
        await t.send_input("echo before-$((2*3))\r")
        await t.read_until("before-6")
        shells = [p for p in psutil.Process(agent["pid"]).children(recursive=True) if p.name() == "bash"]
        assert shells
        os.kill(proxy["pid"], signal.SIGKILL)
        with trio.fail_after(60):
            await t.drain()
    assert t.final["type"] == "error" and t.final["code"] == "P007", t.frames
    assert t.close_code == 1011
    # The agent ends the orphaned session as soon as it notices its proxy is gone (well
    # before the idle timeout would).
    with trio.fail_after(IDLE - 3):
        while any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in shells):
            await trio.sleep(0.2)
    p = world["p"]
    health = await trio.to_thread.run_sync(lambda: httpx.get(p["api"] + "/v1/health", verify=client_context(p["ca_file"])).json())
    assert health["ok"]
    async with term(world) as t:  # no proxy: a clear refusal, not a hang
        await t.drain()
    assert t.final["type"] == "error" and t.final["code"] in ("E001", "E005", "P007", "C015"), t.final


def test_up_allow_origin_writes_the_console_table(tmp_path):
    """`starling up --allow-origin` lets that origin embed a terminal with a token."""
    from .conftest import starling

    home = tmp_path / "origin"
    up = starling(home, "up", "--agents", "1", "--port", "0", "--detach", "--no-demo", "--allow-origin", PORTAL, timeout=180)
    try:
        assert up.returncode == 0, up.stderr
        assert f'allowed_origins = ["{PORTAL}"]' in (home / "center.toml").read_text()
        fleet = Fleet(home)
        p = fleet.profile
        admin = Client(p["api"], p["key_id"], p["secret"], p["ca_file"])
        host = admin.hosts()[0]["hostname"]
        tok = admin.request("POST", "/api/v1/terminal/tokens", json_body={"host": host})

        async def attempt() -> dict[str, Any]:
            async with open_terminal(p["api"], host, ca_file=p["ca_file"], token=tok["token"], origin=PORTAL) as t:
                ready = t.ready
                await t.close()
                await t.drain()
            return ready

        assert trio.run(attempt)["type"] == "ready"
        admin.close()
    finally:
        starling(home, "down")
