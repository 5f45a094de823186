"""``starling-simfleet``: run N simulated agents in one process."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

import trio

from agent_core.host import RegistrationError
from transports import setup_logging

from ._fleet import SimFleet

log = logging.getLogger("starling.simfleet")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="starling-simfleet",
        description="N simulated agent identities in one process, speaking the real protocol over real carriers.",
    )
    p.add_argument("--center", action="append", required=True, help="center API URL (repeat for several)")
    p.add_argument("--ca", default="", help="CA bundle for the center's and proxies' certificates")
    p.add_argument("--token", required=True, help="fleet enrollment token")
    p.add_argument("--count", type=int, required=True, help="number of identities")
    p.add_argument("--idc", default="default", help="IDC every identity reports")
    p.add_argument("--state-dir", required=True, help="journal and status.json go here")
    p.add_argument("--transport", default="tcp", help="carrier scheme: tcp, quic or http")
    p.add_argument("--prefix", default="sim", help="identities are PREFIX-0 .. PREFIX-(N-1)")
    p.add_argument("--concurrency", type=int, default=16, help="registrations in flight at once")
    p.add_argument("--backoff-min", type=float, default=0.5, help="first reconnect delay (jittered)")
    p.add_argument("--backoff-max", type=float, default=30.0, help="reconnect delay cap")
    p.add_argument("--no-verify", action="store_true", help="skip task signature checks (agents verify by default)")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--log-file", default="")
    return p


async def _serve(fleet: SimFleet) -> None:
    async with trio.open_nursery() as nursery:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:

            async def watch() -> None:
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    return

            nursery.start_soon(watch)
            try:
                await fleet.run()
            finally:
                nursery.cancel_scope.cancel()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.count < 1:
        print("starling-simfleet: --count must be at least 1", file=sys.stderr)
        return 2
    setup_logging(args.log_level, args.log_file, role="simfleet")
    fleet = SimFleet(
        centers=args.center, token=args.token, count=args.count, idc=args.idc, state_dir=args.state_dir,
        ca_file=args.ca, transport=args.transport, prefix=args.prefix, concurrency=args.concurrency,
        backoff_min=args.backoff_min, backoff_max=args.backoff_max, verify_signatures=not args.no_verify,
    )
    try:
        trio.run(_serve, fleet)
    except RegistrationError as exc:
        print(f"starling-simfleet: {exc.code}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        fleet.write_status()
        fleet.journal.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
