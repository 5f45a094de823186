"""An internal portal that embeds a Starling terminal: a page on its own origin,
and the small back end that page needs.

* ``GET /`` serves ``index.html`` with the center's address filled in; the page
  loads ``https://CENTER/ui/embed.js`` and calls ``Starling.terminal(...)``.
* ``POST /token`` (body ``{"host": H}``) asks the center for a short-lived,
  single-use terminal token for that host, signed with the portal's API key,
  and hands the page only the token. The API key never reaches the browser.

A real portal first checks its own user's login and whether that user may open
a terminal on ``H``; the token is issued to the portal's Starling account, whose
scope bounds what any of its users can reach. Run it with the profile
``starling up`` writes (or name an account with the environment)::

    python examples/embed-terminal/portal.py --listen 127.0.0.2:8080
    # STARLING_API, STARLING_KEY_ID, STARLING_SECRET, STARLING_CA override the profile

The center must list the portal's origin (``http://127.0.0.2:8080``) in
``[console] allowed_origins``; it prints the address it listens on as its first
line (``--listen 127.0.0.2:0`` picks a free port).
"""

from __future__ import annotations

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from center import ApiError, Client

HERE = Path(__file__).resolve().parent
#: The center's token route (docs/console.md#embedding-a-terminal).
TOKEN_PATH = "/api/v1/terminal/tokens"
MAX_BODY = 4096


class Portal(BaseHTTPRequestHandler):
    client: Client
    center: str

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        sys.stderr.write(f"portal: {format % args}\n")

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, doc: Any) -> None:
        self._send(status, json.dumps(doc).encode(), "application/json")

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path.split("?", 1)[0] not in ("/", "/index.html"):
            self._json(404, {"error": "no such page"})
            return
        page = (HERE / "index.html").read_text().replace("{{CENTER}}", self.center)
        self._send(200, page.encode(), "text/html; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path != "/token":
            self._json(404, {"error": "no such route"})
            return
        size = int(self.headers.get("Content-Length") or 0)
        if size > MAX_BODY:
            self._json(413, {"error": "request too large"})
            return
        try:
            host = json.loads(self.rfile.read(size) or b"{}")["host"]
            if not isinstance(host, str) or not host:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            self._json(400, {"error": 'send {"host": NAME}'})
            return
        # Here a real portal checks its own user's session and right to this host.
        try:
            doc = self.client.request("POST", TOKEN_PATH, json_body={"host": host})
        except ApiError as exc:
            # The center's code and hint go to the page, which shows them.
            self._json(exc.status or 502, {"error": {"code": exc.code.name, "message": str(exc), "hint": exc.hint}})
            return
        self._json(200, {"token": doc["token"], "host": doc.get("host", host), "expires_at": doc.get("expires_at")})


def main() -> int:
    ap = argparse.ArgumentParser(description="An example portal embedding a Starling terminal")
    ap.add_argument("--listen", default="127.0.0.2:8080", help="address:port of the portal (port 0: any free port)")
    args = ap.parse_args()
    addr, _, port = args.listen.rpartition(":")
    try:
        Portal.client = Client.from_profile()
    except ApiError as exc:
        raise SystemExit(f"{exc.code.name}: {exc}") from None
    Portal.center = Portal.client.api
    server = ThreadingHTTPServer((addr, int(port)), Portal)
    print(f"http://{addr}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
