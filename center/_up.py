"""``starling up`` / ``starling down``: a whole Starling on one machine.

Starts a center (SQLite), a proxy and N agents as separate processes with
separate identities, all talking TLS on loopback, then runs a demo command.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from transports import (
    ErrorCode,
    StarlingError,
    free_port,
    port_is_free,
    private_dir,
    tighten_private,
    write_private,
)

from ._credentials import proxy_token
from ._pki import ensure_ca, issue_cert
from ._supervise import Member, Terminated, stop_signals_raise, supervise
from ._supervise import spawn as _spawn
from .cli import ApiError, Client, home

console = Console(stderr=True)


def _ports(base: int, count: int) -> list[int]:
    """``count`` consecutive TCP ports from ``base`` (also free for UDP, as QUIC
    shares the TCP carrier's port number), or free ones when busy or 0."""
    if base and all(port_is_free(base + i) and port_is_free(base + i, udp=True) for i in range(count)):
        return [base + i for i in range(count)]
    if base:
        console.print(f"[yellow]ports {base}-{base + count - 1} are busy; picking free ones[/yellow]")
    out: list[int] = []
    while len(out) < count:
        port = free_port()
        if port_is_free(port, udp=True):  # free_port never repeats one
            out.append(port)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def _ours(pid: int, marker: str) -> bool:
    """The PID still runs the process we started (not a recycled PID)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return marker.encode() in fh.read()
    except OSError:
        return False


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _wait(what: str, check: Any, timeout: float, procs: list[tuple[subprocess.Popen[bytes], Path]]) -> Any:
    end = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < end:
        for proc, log in procs:
            if proc.poll() is not None:
                raise StarlingError(f"{what}: process {proc.pid} exited with {proc.returncode}; log {log}:\n{_tail(log)}", code=ErrorCode.C022)
        try:
            result = check()
            if result:
                return result
        except (ApiError, OSError) as exc:
            last_exc = exc
        time.sleep(0.2)
    raise StarlingError(f"{what}: not ready after {timeout:.0f}s ({last_exc or 'no answer'})", code=ErrorCode.C022)


def _write_toml(path: Path, section: str, values: dict[str, Any]) -> None:
    lines = [f"[{section}]"]
    for key, value in values.items():
        lines.append(f"{key} = {json.dumps(value)}")
    # Every config written here holds a token or secret: 0600 from the first byte.
    write_private(path, "\n".join(lines) + "\n")


def up(args: argparse.Namespace, demo: Callable[[list[str]], int] | None = None) -> int:
    """Start everything; ``demo`` runs one CLI command line once the fleet is up (the
    CLI passes its own ``main``, so this module never imports the CLI)."""
    # SIGTERM/SIGHUP unwind like Ctrl-C, so nothing started is left behind.
    with stop_signals_raise():
        return _up(args, demo)


def _up(args: argparse.Namespace, demo: Callable[[list[str]], int] | None) -> int:
    state = private_dir(Path(args.state_dir) if args.state_dir else home())
    profile_path = state / "up.json"
    tighten_private([profile_path, state / "secrets.json", state / "pki", state / "center.toml", *state.glob("proxy-*.toml")])
    if profile_path.exists():
        old = json.loads(profile_path.read_text())
        live = [p for p in old.get("pids", []) if _alive(p) and _ours(p, str(state))]
        if live:
            raise StarlingError(f"already running in {state} (pids {live[:5]}…)", code=ErrorCode.C021)
    nproxies = max(1, args.proxies)
    ports = _ports(args.port, 2 + 2 * nproxies)
    api_port, link_port = ports[0], ports[1]
    pki = state / "pki"
    ca, _ = ensure_ca(pki)
    issue_cert(pki, "center", ["127.0.0.1", "localhost"])
    pcert, pkey = issue_cert(pki, "proxy", ["127.0.0.1", "localhost"])
    secrets_path = state / "secrets.json"
    if secrets_path.exists():
        sec = json.loads(secrets_path.read_text())
    else:
        sec = {
            "enroll_token": secrets.token_urlsafe(24),
            "proxy_token": secrets.token_urlsafe(24),
            "key_id": "admin-" + secrets.token_hex(4),
            "secret": secrets.token_urlsafe(32),
        }
        write_private(secrets_path, json.dumps(sec))
    api = f"https://127.0.0.1:{api_port}"
    logs = state / "logs"
    logs.mkdir(exist_ok=True)
    _write_toml(state / "center.toml", "center", {
        "api": api, "proxy_listen": f"tcp://127.0.0.1:{link_port}", "state_dir": str(state / "center"),
        "enroll_token": sec["enroll_token"], "proxy_token": sec["proxy_token"],
        "cert_file": str(pki / "center.pem"), "key_file": str(pki / "center.key"), "ca_file": str(ca),
        "admin_key_id": sec["key_id"], "admin_secret": sec["secret"], "heartbeat": 5.0,
        "log_file": str(logs / "center.log"),
    })
    origins = list(getattr(args, "allow_origin", None) or [])
    if origins:
        # Pages of these origins may embed a terminal with a token (docs/console.md).
        with (state / "center.toml").open("a") as fh:
            fh.write(f"\n[console]\nallowed_origins = {json.dumps(origins)}\n")
    proxy_cfgs = []
    #: Each proxy's health/readiness/metrics listener.
    proxy_http: dict[str, str] = {}
    for i in range(nproxies):
        stream_port, http_port = ports[2 + 2 * i], ports[3 + 2 * i]
        ops_port = free_port()
        # Every proxy serves every carrier at once; each agent picks by its `transport`.
        listen = [f"tcp://127.0.0.1:{stream_port}", f"quic://127.0.0.1:{stream_port}", f"https://127.0.0.1:{http_port}"]
        path = state / f"proxy-{i + 1}.toml"
        _write_toml(path, "proxy", {
            "proxy_id": f"proxy-{i + 1}", "idc": "local", "centers": [f"tcp://127.0.0.1:{link_port}"],
            "proxy_token": proxy_token(sec["proxy_token"], f"proxy-{i + 1}"), "listen": listen, "cert_file": str(pcert), "key_file": str(pkey),
            "ca_file": str(ca), "heartbeat": 5.0, "log_file": str(logs / f"proxy-{i + 1}.log"),
            "http_listen": f"127.0.0.1:{ops_port}",
            "cache_dir": str(state / f"proxy-{i + 1}-cache"),
        })
        proxy_cfgs.append((f"proxy-{i + 1}", path, listen))
        proxy_http[f"proxy-{i + 1}"] = f"http://127.0.0.1:{ops_port}"
    procs: list[tuple[subprocess.Popen[bytes], Path]] = []
    pids: list[int] = []
    roles: list[dict[str, Any]] = []
    profile = {
        "api": api, "ca_file": str(ca), "key_id": sec["key_id"], "secret": sec["secret"], "state_dir": str(state),
        "pids": pids, "roles": roles, "agents": [], "proxy_http": proxy_http,
    }

    def save() -> None:
        write_private(profile_path, json.dumps(profile, indent=2))

    def start(role: str, name: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        proc = _spawn(argv, log)
        procs.append((proc, log))
        pids.append(proc.pid)
        roles.append({"role": role, "name": name, "pid": proc.pid, "argv": argv, "log": str(log)})
        save()
        return proc

    declare: subprocess.Popen[bytes] | None = None

    def stop_declare() -> None:
        if declare is not None and declare.poll() is None:
            declare.kill()
            declare.wait()

    try:
        t0 = time.monotonic()
        start("center", "center", [sys.executable, "-m", "center.cli", "center", "-c", str(state / "center.toml")], logs / "center.out")
        # Declare the plugins once for all local agents (they share the cache), while the
        # center and the proxies start: it needs neither, and takes a second or more of CPU.
        declare = subprocess.Popen(
            [sys.executable, "-m", "agent_core._declare", "--cache", str(state / "cache")], stdin=subprocess.DEVNULL,
        )
        os.environ.pop("STARLING_API", None)
        client = Client(api, sec["key_id"], sec["secret"], str(ca), timeout=5)
        _wait("center", lambda: client.request("GET", "/v1/health")["ok"], 30, procs)
        for name, path, _listen in proxy_cfgs:
            start("proxy", name, [sys.executable, "-m", "center.cli", "proxy", "-c", str(path)], logs / f"{name}.out")
        _wait(
            f"{nproxies} proxies",
            lambda: sum(1 for p in client.proxies() if p["linked"] and p["urls"]) >= nproxies,
            30,
            procs,
        )
        machine = socket.gethostname()
        try:
            declare.wait(120)
        except subprocess.TimeoutExpired:
            stop_declare()  # the agents declare for themselves, as they would without it
        for i in range(1, args.agents + 1):
            adir = private_dir(state / "agents" / f"a{i:03d}")
            ident = adir / "identity.toml"
            write_private(
                ident,
                f'sn = "local-{i:03d}-{sec["enroll_token"][:6]}"\nhostname = "{machine}-a{i:03d}"\nidc = "local"\n'
                f'tags = ["local", "{"even" if i % 2 == 0 else "odd"}"]\n',
            )
            _write_toml(adir / "agent.toml", "agent", {
                "center": [api], "enroll_token": sec["enroll_token"], "ca_file": str(ca), "state_dir": str(adir),
                "cache_dir": str(state / "cache"),
                "identity_file": str(ident), "transport": args.transport, "log_file": str(adir / "agent.log"),
            })
            if i == 1:
                # The first agent also runs the node exporter as a resident plugin.
                exporter_port = free_port()
                with (adir / "agent.toml").open("a") as fh:
                    fh.write(f'\n[agent.plugin_config."agent.exporter"]\nenabled = true\nport = {exporter_port}\n')
                profile["exporter"] = f"http://127.0.0.1:{exporter_port}/metrics"
            argv = [sys.executable, "-m", "agent_core._daemon", "-c", str(adir / "agent.toml")]
            agent = _spawn(argv, adir / "agent.out")
            procs.append((agent, adir / "agent.out"))
            pids.append(agent.pid)
            profile["agents"].append({"pid": agent.pid, "dir": str(adir), "hostname": f"{machine}-a{i:03d}", "argv": argv, "log": str(adir / "agent.out")})
        save()
        want = args.agents

        def online() -> bool:
            rows = client.hosts(online="1", idc="local")
            return len(rows) >= want

        _wait(f"{want} agents", online, 60 + want * 0.5, procs)
        took = time.monotonic() - t0
    except BaseException:
        for proc, _ in procs:
            proc.terminate()
        stop_declare()
        profile_path.unlink(missing_ok=True)
        raise
    if args.json:
        print(json.dumps({"api": api, "console": f"{api}/ui/", "agents": want, "state_dir": str(state), "started_in": round(took, 2)}))
    else:
        console.print(f"[bold green]Starling is up[/bold green] in {took:.1f}s: center {api}, {nproxies} proxy(ies), {want} agents over {args.transport}")
        for name, _path, listen in proxy_cfgs:
            console.print(f"[dim]  {name}: {' '.join(listen)}[/dim]")
        console.print(f"[dim]state and logs: {state}[/dim]")
        _print_console(client, api)
        if state != home():
            console.print(f"[dim]for other commands: export STARLING_HOME={state}[/dim]")
    try:
        if demo is not None and not args.no_demo and not args.json:
            _demo(state, demo)
        if args.detach:
            return 0
        console.print("\n[dim]Running in the foreground; Ctrl-C or SIGTERM stops everything, a crashed role is restarted.[/dim]")
        members = [
            Member(name=r["name"], argv=r["argv"], log=Path(r["log"]), proc=proc, core=True)
            for r, (proc, _) in zip(roles, procs[: len(roles)], strict=True)
        ] + [
            Member(name=Path(a["dir"]).name, argv=a["argv"], log=Path(a["log"]), proc=proc, core=False)
            for a, (proc, _) in zip(profile["agents"], procs[len(roles) :], strict=True)
        ]
        why = supervise(members, profile, save)
        console.print(f"[red]{why}; stopping[/red]")
    except (KeyboardInterrupt, Terminated):
        if args.detach:
            raise
    # A second signal must not cut the stopping short.
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)
    return down(argparse.Namespace(state_dir=str(state), json=False))


def _print_console(client: Client, api: str) -> None:
    """The console's URL and a one-time login link for the local admin (single use, valid two minutes)."""
    console.print(f"web console: {api}/ui/")
    try:
        link = client.request("POST", "/ui/tokens")
    except ApiError as exc:
        console.print(f"[yellow]no console login link: {exc}[/yellow]")
        return
    console.print(f"  one-time login link (single use, {link['expires_in']:.0f}s): {api}{link['path']}", soft_wrap=True)


def _demo(state: Path, cli_main: Callable[[list[str]], int]) -> None:
    os.environ["STARLING_HOME"] = str(state)
    console.print("\n[bold]Demo:[/bold] starling run --all -- 'echo hello from $(hostname)'")
    cli_main(["run", "--all", "--", "echo hello from $(hostname)"])
    console.print(
        "\nTry next:\n"
        "  starling hosts\n"
        "  starling run --all -- uptime\n"
        "  starling run --tag even --action sys.info\n"
        "  starling jobs\n"
        "  starling restart proxy-1\n"
        "  starling down"
    )


def down(args: argparse.Namespace) -> int:
    state = Path(args.state_dir) if args.state_dir else home()
    profile_path = state / "up.json"
    if not profile_path.exists():
        console.print(f"nothing is running from {state}")
        return 0
    profile = json.loads(profile_path.read_text())
    pids = [p for p in reversed(profile.get("pids", [])) if _alive(p) and _ours(p, str(state))]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    end = time.monotonic() + 10
    while time.monotonic() < end and any(_alive(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    profile_path.unlink(missing_ok=True)
    console.print(f"stopped {len(pids)} process(es)")
    return 0
