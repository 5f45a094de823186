"""``starling-agent``: the agent daemon and its small helper commands."""

from __future__ import annotations

import json
import logging
import signal
import sys
from typing import TYPE_CHECKING

import msgspec
import trio

from transports import StarlingError, setup_logging

from ._config import ConfigError, load_config, tighten_secret_files
from ._identity import collect_identity
from ._libc import set_child_subreaper, trim_heap

if TYPE_CHECKING:
    import argparse

log = logging.getLogger("starling.agent")
#: Seconds after the first connection before the start-up heap is trimmed.
SETTLE = 5.0


async def _serve(config_path: str | None) -> int:
    from ._agent import Agent

    config = load_config(config_path)
    setup_logging(config.log_level, config.log_file, role="agent")
    tighten_secret_files(config, config_path)
    set_child_subreaper()
    agent = Agent(config)
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:

            async def watch() -> None:
                async for _ in signals:
                    log.info("signal received; stopping")
                    agent.host.pm.hook.starling_agent_stopping(agent=agent.info)
                    nursery.cancel_scope.cancel()
                    return

            async def settle() -> None:
                # Start-up (config, identity, registration, TLS handshakes) leaves freed
                # heap behind; once connected and quiet, hand it back to the OS (glibc).
                while agent.session is None:  # noqa: ASYNC110 - made inside run(); a few polls at start
                    await trio.sleep(0.5)
                await agent.session.connected.wait()
                await trio.sleep(SETTLE)
                trim_heap()

            nursery.start_soon(watch)
            nursery.start_soon(settle)
            try:
                await agent.run()
            except (StarlingError, BaseExceptionGroup) as raised:
                exc = stopping_error(raised)
                if exc is None:
                    raise
                log.error("agent stopped: %s (%s)", exc, exc.code)
                print(f"starling-agent: {exc.code}: {exc}", file=sys.stderr)
                return 2
            finally:
                nursery.cancel_scope.cancel()
    return 0


def stopping_error(raised: BaseException) -> StarlingError | None:
    """The coded error that stopped the agent (a refused enrollment: C019, C017...), also
    when trio's nurseries wrapped it in exception groups; None when anything else is in
    there too (that is a bug, and keeps its traceback)."""
    if isinstance(raised, StarlingError):
        return raised
    if isinstance(raised, BaseExceptionGroup):
        coded, rest = raised.split(StarlingError)
        if coded is not None and rest is None:
            first: BaseException = coded
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            return first if isinstance(first, StarlingError) else None
    return None


def _json_file(path: str | None) -> list[dict[str, object]] | None:
    if path is None:
        return None
    with open(path) as fh:
        doc = json.load(fh)
    if not isinstance(doc, list):
        raise ValueError(f"{path}: expected the JSON list `ip -j` prints")
    return doc


def _plain_run(argv: list[str]) -> tuple[bool, str | None]:
    """``(True, config)`` for the daemon's usual command line, ``[--config PATH | -c PATH
    | --config=PATH] [run]`` as systemd and ``starling up`` start it, read without
    argparse (which, with gettext, would stay in the idle agent: ~0.4 MB); ``(False,
    None)`` for anything else, which argparse reads."""
    args, config = list(argv), None
    if args and args[0].startswith("--config="):
        config = args.pop(0).split("=", 1)[1]
    elif len(args) >= 2 and args[0] in ("--config", "-c") and not args[1].startswith("-"):
        config = args[1]
        del args[:2]
    if args in ([], ["run"]):
        return True, config
    return False, None


def _call(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ._call import call_action, parse_params, render_result

    try:
        params = parse_params(args.params, args.json_params)
    except StarlingError as exc:
        print(f"starling-agent call: {exc.code}: {exc}", file=sys.stderr)
        return 2
    state_dir = args.state_dir or (load_config(args.config).state_dir if args.config else None)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    result = trio.run(lambda: call_action(args.action, params, state_dir=Path(state_dir) if state_dir else None, stream=args.stream, timeout=args.timeout))
    print(json.dumps(render_result(result), indent=2, default=repr))
    if result.state != "succeeded":
        print(f"starling-agent call: {result.code}: {result.message}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    plain, config = _plain_run(sys.argv[1:] if argv is None else argv)
    if plain:
        try:
            return trio.run(_serve, config)
        except (ConfigError, ValueError, OSError) as exc:
            print(f"starling-agent: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            return 130
    import argparse

    parser = argparse.ArgumentParser(prog="starling-agent", description="The Starling agent daemon.")
    parser.add_argument("--config", "-c", help="agent TOML config (env STARLING_* overrides it)")
    sub = parser.add_subparsers(dest="cmd")
    sub.add_parser("run", help="run the agent (default)")
    ident = sub.add_parser("identity", help="print this host's identity as JSON (SN, IP, hostname, OS, IDC)")
    ident.add_argument("--override", help="identity override file")
    ident.add_argument("--root", default="/", help="read /sys, /proc and /etc under this directory (for fixtures)")
    ident.add_argument("--ip-addr-json", help="a file with `ip -j addr show` output instead of the live one")
    ident.add_argument("--ip-route-json", help="a file with `ip -j route show` output instead of the live one")
    ident.add_argument("--preferred-cidr", action="append", default=None, help="preferred network for the primary IP (repeatable)")
    ident.add_argument("--state-dir", help="where a generated SN is kept (default: the config's state_dir)")
    call = sub.add_parser(
        "call",
        help="run one action on this host now, as a task would run (debugging a plugin)",
        description="Run ACTION once in this process through the agent's executor: params checked against "
        "the action's type, its declared timeout applied, the result printed as JSON. "
        "Exit status: 0 succeeded, 1 the action failed (its code is printed), 2 bad usage.",
    )
    call.add_argument("action", help="e.g. disk.usage")
    call.add_argument("params", nargs="*", metavar="KEY=VALUE", help="params; a value is JSON when it parses (limit=5, all=true), else text; key:=value forces text")
    call.add_argument("--json-params", metavar="JSON", help="params as one JSON object (KEY=VALUE words are applied on top)")
    call.add_argument("--timeout", type=float, default=0, help="seconds (default: the action's declared timeout)")
    call.add_argument("--stream", action="store_true", help="print the action's output as it comes (streaming actions)")
    call.add_argument("--state-dir", help="the agent state directory the action sees (default: the config's, else a temporary one)")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "call":
            return _call(args)
        if args.cmd == "identity":
            cfg = load_config(args.config) if args.config else None
            override = args.override or (cfg.identity_file if cfg else None)
            ident_ = collect_identity(
                override, cfg.idc if cfg else "", cfg.tags if cfg else [], root=args.root,
                state_dir=args.state_dir or (cfg.state_dir if cfg else None),
                preferred_cidrs=args.preferred_cidr if args.preferred_cidr is not None else (cfg.preferred_cidrs if cfg else []),
                ip_addr=_json_file(args.ip_addr_json), ip_route=_json_file(args.ip_route_json),
            )
            print(json.dumps(msgspec.to_builtins(ident_), indent=2))
            return 0
        return trio.run(_serve, args.config)
    except (ConfigError, ValueError, OSError) as exc:
        print(f"starling-agent: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
