"""``starling pki`` and ``starling proxy-token``: what an operator runs to set up a
production deployment (docs/deploy.md). Imported only when one of them runs."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from transports import ErrorCode, StarlingError


def _emit(doc: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(doc, indent=2) + "\n")


def cmd_pki(args: argparse.Namespace) -> int:
    from .._pki import ensure_ca, issue_cert

    directory = Path(args.dir)
    if args.pki_cmd == "init":
        cert, key = ensure_ca(directory)
        _emit({"ca": str(cert), "ca_key": str(key)})
        return 0
    if not args.host:
        raise StarlingError("give the names the certificate is for: --host NAME_OR_IP (repeatable)", code=ErrorCode.C001)
    if not (directory / "ca.pem").exists():
        raise StarlingError(f"no CA in {directory}: run `starling pki init --dir {directory}` first", code=ErrorCode.C001)
    cert_path, key_path = directory / f"{args.name}.pem", directory / f"{args.name}.key"
    renewed = cert_path.exists()
    if renewed and not args.renew:
        raise StarlingError(f"{cert_path} exists; --renew issues a new key and certificate", code=ErrorCode.C001)
    if renewed:
        # Rotation: a new key too, not just a new expiry. Same CA, so agents need nothing.
        cert_path.unlink()
        key_path.unlink(missing_ok=True)
    cert, key = issue_cert(directory, args.name, args.host)
    _emit({"cert": str(cert), "key": str(key), "hosts": args.host, "renewed": renewed})
    return 0


def cmd_proxy_token(args: argparse.Namespace) -> int:
    import tomllib

    from .._credentials import proxy_token

    try:
        master = tomllib.loads(Path(args.center_config).read_text()).get("center", {}).get("proxy_token", "")
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise StarlingError(f"cannot read {args.center_config}: {exc}", code=ErrorCode.C001) from exc
    if not master:
        raise StarlingError(f"{args.center_config} has no [center] proxy_token", code=ErrorCode.C001)
    token = proxy_token(master, args.proxy_id)
    _emit({"proxy_id": args.proxy_id, "proxy_token": token}) if args.json else sys.stdout.write(token + "\n")
    return 0


def add_parsers(sub: argparse._SubParsersAction[Any]) -> None:
    """Declare the set-up subcommands (their functions import the rest when run)."""
    p = sub.add_parser("pki", help="certificates for centers and proxies: init a CA, issue or renew a certificate")
    psub = p.add_subparsers(dest="pki_cmd", required=True, metavar="WHAT")
    q = psub.add_parser("init", help="make the CA (once) in --dir")
    q.add_argument("--dir", required=True, help="where the CA lives (keep ca.key offline)")
    q.add_argument("--json", action="store_true")
    q = psub.add_parser("issue", help="a key and certificate NAME.pem/NAME.key signed by the CA in --dir")
    q.add_argument("name", help="file name, e.g. center-1 or proxy-dc1-1")
    q.add_argument("--host", action="append", help="DNS name or IP the certificate is for (repeatable)")
    q.add_argument("--dir", required=True)
    q.add_argument("--renew", action="store_true", help="replace an existing key and certificate (rotation)")
    q.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_pki)

    p = sub.add_parser("proxy-token", help="a proxy's own token, derived from the center's proxy_token")
    p.add_argument("proxy_id")
    p.add_argument("--center-config", default="/etc/starling/center.toml")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_proxy_token)
