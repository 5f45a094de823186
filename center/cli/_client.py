"""A small Python client for the center's HTTP API; signs every request.

    from center import Client
    c = Client.from_profile()              # what `starling up` wrote, or STARLING_* env
    job = c.submit("exec.run", {"cmd": "uptime"}, all=True)
    print(c.wait(job["job_id"]))
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from transports import ErrorCode, StarlingError


def home() -> Path:
    """Where the CLI and ``starling up`` keep their state (profiles, ``up.json``):
    ``$STARLING_HOME``, else ``$XDG_STATE_HOME/starling`` (``~/.local/state/starling``)."""
    env = os.environ.get("STARLING_HOME")
    if env:
        return Path(env)
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "starling"


#: What a process that only makes synchronous HTTP/1.1 requests need not load: httpcore
#: imports trio and anyio (when installed) for async clients and h2 for HTTP/2, and httpx
#: imports its own command line (click, pygments, rich) -- ~75 ms of CPU on each
#: `starling` call that talks to the center, on top of ~80 ms for trio.
_SYNC_ONLY_SKIPS = ("trio", "anyio", "h2", "httpx._main")


def _import_http() -> None:
    """Import httpx and httpcore, without :data:`_SYNC_ONLY_SKIPS` when the command line
    allows it (``center.cli.SYNC_HTTP_ONLY``: a command that runs no server in its
    process). Each skipped module stays importable afterwards; only what httpcore and
    httpx would have done with it is off in that process (an async client, HTTP/2,
    ``httpx.main``), none of which the command line uses."""
    from center import cli

    if not cli.SYNC_HTTP_ONLY or "httpcore" in sys.modules:
        return  # nothing to hide (or too late to): httpx loads httpcore when it needs it
    hidden = [name for name in _SYNC_ONLY_SKIPS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` fail, as if absent
    try:
        import httpcore  # noqa: F401
        import httpx  # noqa: F401
    finally:
        for name in hidden:
            del sys.modules[name]


_import_http()
import httpx  # noqa: E402


class ApiError(StarlingError):
    """The center refused a request; ``code``, ``message`` and ``hint`` say why."""

    def __init__(self, code: ErrorCode, message: str, status: int = 0, hint: str = "") -> None:
        super().__init__(message, code=code)
        self.status = status
        self.hint = hint or code.hint


class Client:
    def __init__(self, api: str, key_id: str = "", secret: str = "", ca_file: str | None = None, timeout: float = 60.0) -> None:
        from ..security import StarlingAuth

        self.api = api.rstrip("/")
        auth = StarlingAuth(key_id, secret.encode()) if key_id else None
        from transports import client_context

        verify = client_context(ca_file) if ca_file else True
        self._http = httpx.Client(base_url=self.api, verify=verify, auth=auth, timeout=timeout)

    @classmethod
    def from_profile(cls, api: str | None = None) -> Client:
        """Connection settings from ``STARLING_API``/``STARLING_KEY_ID``/
        ``STARLING_SECRET``/``STARLING_CA``, else from the profile ``starling up`` wrote."""
        profile: dict[str, Any] = {}
        path = home() / "up.json"
        if path.exists():
            try:
                profile = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise ApiError(ErrorCode.C030, f"cannot read the profile {path}: {exc}", hint="`starling up` writes it; remove it or set STARLING_API.") from exc
            if not isinstance(profile, dict):
                raise ApiError(ErrorCode.C030, f"the profile {path} is not a JSON object")
        api = api or os.environ.get("STARLING_API") or profile.get("api")
        if not api:
            raise ApiError(ErrorCode.C039, "no center known: run `starling up`, or set STARLING_API (or --api)", hint="`starling up` starts one on this machine.")
        return cls(
            api,
            os.environ.get("STARLING_KEY_ID", profile.get("key_id", "")),
            os.environ.get("STARLING_SECRET", profile.get("secret", "")),
            os.environ.get("STARLING_CA", profile.get("ca_file")),
        )

    def close(self) -> None:
        self._http.close()

    def _unreachable(self, exc: Exception) -> ApiError:
        """C039, not the center's C016 (its database): this client got no answer at all."""
        return ApiError(ErrorCode.C039, f"cannot reach the center at {self.api}: {exc or type(exc).__name__}")

    @staticmethod
    def _refused(resp: httpx.Response) -> ApiError:
        try:
            data = resp.json()
        except ValueError:
            data = {}
        err = data.get("error", {}) if isinstance(data, dict) else {}
        code = ErrorCode.of(str(err.get("code", "")), ErrorCode.C020)
        return ApiError(code, err.get("message", f"HTTP {resp.status_code}"), resp.status_code, err.get("hint", ""))

    def request(self, method: str, path: str, *, json_body: Any = None, params: Any = None) -> Any:
        content = json.dumps(json_body).encode() if json_body is not None else b""
        headers = {"Content-Type": "application/json"} if json_body is not None else {}
        try:
            resp = self._http.request(method, path, content=content, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if resp.status_code >= 400 or (isinstance(data, dict) and "error" in data):
            err = data.get("error", {}) if isinstance(data, dict) else {}
            code = ErrorCode.of(str(err.get("code", "")), ErrorCode.C020)
            raise ApiError(code, err.get("message", f"HTTP {resp.status_code}"), resp.status_code, err.get("hint", ""))
        return data

    def request_bytes(self, method: str, path: str, content: bytes = b"") -> bytes:
        """Like :meth:`request` for raw bodies (file chunks): sends and returns bytes."""
        headers = {"Content-Type": "application/octet-stream"} if content else {}
        try:
            resp = self._http.request(method, path, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if resp.status_code >= 400:
            raise self._refused(resp)
        return resp.content

    # -- conveniences -------------------------------------------------------------

    def submit(self, action: str, params: dict[str, Any] | None = None, **targets: Any) -> dict[str, Any]:
        body = {"action": action, "params": params or {}, **targets}
        return self.request("POST", "/v1/jobs", json_body=body)

    def job(self, job_id: str, *, results: bool = True) -> dict[str, Any]:
        return self.request("GET", f"/v1/jobs/{job_id}", params={"results": "1" if results else "0"})

    def wait(self, job_id: str, timeout: int = 30) -> dict[str, Any]:
        return self.request("GET", f"/v1/jobs/{job_id}/wait", params={"timeout": timeout})

    def _events(self, path: str) -> Iterator[tuple[str, str]]:
        """``(event, data)`` pairs of a server-sent events stream, until it ends."""
        try:
            with self._http.stream("GET", path, timeout=httpx.Timeout(None, connect=self._http.timeout.connect)) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise self._refused(resp)
                event = ""
                for line in resp.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        yield event, line[6:]
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc

    def output(self, job_id: str) -> Iterator[dict[str, Any]]:
        """Yield the live output chunks of a streaming job until it completes:
        dicts with ``host``, ``stream`` (stdout/stderr) and ``text``."""
        for event, data in self._events(f"/v1/jobs/{job_id}/output"):
            if event == "output":
                yield json.loads(data)
            elif event == "done":
                return

    def progress(self, job_id: str) -> Iterator[dict[str, Any]]:
        """Yield the job's progress (``GET /v1/jobs/{job}`` without results) each time it
        changes, from the center's server-sent events; the last one is complete."""
        for event, data in self._events(f"/v1/jobs/{job_id}/events"):
            if event == "progress":
                yield json.loads(data)
            elif event == "done":
                return
        # The stream ended without `done`: the center went away mid-job (restart, crash).
        raise ApiError(ErrorCode.C039, f"the center at {self.api} closed the progress stream of {job_id} before it completed")

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"/v1/jobs/{job_id}/cancel")

    def pause(self, job_id: str) -> dict[str, Any]:
        """Hold a job's rollout (no more hosts released); :meth:`resume` goes on."""
        return self.request("POST", f"/v1/jobs/{job_id}/pause")

    def resume(self, job_id: str) -> dict[str, Any]:
        return self.request("POST", f"/v1/jobs/{job_id}/resume")

    def hosts(self, **params: Any) -> list[dict[str, Any]]:
        """Every host the filters select (all pages)."""
        return [h for page in self.pages("/v1/hosts", "hosts", params) for h in page["hosts"]]

    def jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/jobs", params={"limit": limit})["jobs"]

    def pages(self, path: str, key: str, params: dict[str, Any], page: int = 1000) -> Iterator[dict[str, Any]]:
        """Each page of a paged listing (``GET /v1/hosts``, ``GET /v1/jobs``), following
        its ``next`` cursor until there is none."""
        query = {**params, "limit": params.get("limit") or page}
        while True:
            doc = self.request("GET", path, params=query)
            yield doc
            if not doc.get("next"):
                return
            query["cursor"] = doc["next"]

    def proxies(self) -> list[dict[str, Any]]:
        return self.request("GET", "/v1/proxies")["proxies"]
