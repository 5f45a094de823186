"""``starling-agent``: the agent daemon and its small helper commands."""

from __future__ import annotations

import json
import logging
import signal
import sys

import msgspec
import trio

from transports import StarlingError, setup_logging

from ._config import ConfigError, load_config, tighten_secret_files
from ._identity import collect_identity
from ._libc import set_child_subreaper, trim_heap

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
                await agent.connected.wait()
                await trio.sleep(SETTLE)
                trim_heap()

            nursery.start_soon(watch)
            nursery.start_soon(settle)
            try:
                await agent.run()
            except StarlingError as exc:
                log.error("agent stopped: %s (%s)", exc, exc.code)
                print(f"starling-agent: {exc.code}: {exc}", file=sys.stderr)
                return 2
            finally:
                nursery.cancel_scope.cancel()
    return 0


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
    args = parser.parse_args(argv)
    try:
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
