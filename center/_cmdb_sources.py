"""CMDB records and where they come from, without the store: a CSV or JSON
export (:class:`FileSource`) or an HTTP CMDB answering JSON (:class:`HttpSource`),
behind one small interface (:class:`CmdbSource`). The CLI parses exports with
this module alone, so it never loads the database layer; :mod:`center._cmdb`
stores, matches and checks the records.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any, Protocol

import msgspec

from transports import ErrorCode, StarlingError

Field = Annotated[str, msgspec.Meta(max_length=255)]
MAX_RECORDS = 1_000_000
KINDS = ("sn_differs", "ip_differs", "hostname_differs", "idc_differs", "no_agent", "not_in_cmdb", "duplicate_sn", "duplicate_ip")


class CmdbRecord(msgspec.Struct, forbid_unknown_fields=False, kw_only=True, omit_defaults=True):
    """One host as the CMDB knows it."""

    sn: Field = ""
    ip: Field = ""
    hostname: Field = ""
    owner: Field = ""
    idc: Field = ""
    tags: Annotated[list[Annotated[str, msgspec.Meta(max_length=128)]], msgspec.Meta(max_length=256)] = []


class CmdbImport(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/cmdb/import``: records to load; ``replace`` drops the old ones first."""

    records: Annotated[list[CmdbRecord], msgspec.Meta(max_length=MAX_RECORDS)]
    replace: bool = True


class CmdbSource(Protocol):
    """Where CMDB records come from. One method; adapters for other CMDBs
    implement it (and may page, authenticate, map fields as they need)."""

    def fetch(self) -> list[CmdbRecord]: ...


def _tags(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [t.strip() for t in str(value or "").replace(";", ",").replace("|", ",").split(",") if t.strip()]


#: Column names other exports use for our fields (lower-case).
ALIASES = {
    "sn": ("sn", "serial", "serial_number", "serialnumber", "asset_sn"),
    "ip": ("ip", "ip_address", "ipaddress", "primary_ip", "mgmt_ip"),
    "hostname": ("hostname", "host", "name", "host_name", "fqdn"),
    "owner": ("owner", "owners", "contact", "maintainer", "team"),
    "idc": ("idc", "datacenter", "data_center", "dc", "site"),
    "tags": ("tags", "labels", "groups"),
}


def normalize(raw: dict[str, Any], line: int = 0) -> CmdbRecord:
    """A record from one row of any export, whatever its column names."""
    low = {str(k).strip().lower(): v for k, v in raw.items()}
    out: dict[str, Any] = {}
    for field, names in ALIASES.items():
        for name in names:
            if name in low and low[name] not in (None, ""):
                out[field] = _tags(low[name]) if field == "tags" else str(low[name]).strip()
                break
    try:
        return msgspec.convert(out, CmdbRecord)
    except msgspec.ValidationError as exc:
        raise StarlingError(f"CMDB record {line or ''}: {exc}".replace("  ", " "), code=ErrorCode.C001) from exc


def parse_export(text: str, fmt: str = "") -> list[CmdbRecord]:
    """Records from a CSV or JSON export (``fmt`` ``csv``/``json``, or guessed).
    JSON may be a list, or an object with the list under ``records``, ``hosts``,
    ``items`` or ``data``."""
    fmt = fmt or ("json" if text.lstrip()[:1] in ("[", "{") else "csv")
    if fmt == "json":
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise StarlingError(f"CMDB export is not valid JSON: {exc}", code=ErrorCode.C001) from exc
        if isinstance(doc, dict):
            doc = next((doc[k] for k in ("records", "hosts", "items", "data", "results") if isinstance(doc.get(k), list)), None)
        if not isinstance(doc, list):
            raise StarlingError("CMDB JSON must be a list of hosts, or hold one under records/hosts/items/data", code=ErrorCode.C001)
        return [normalize(r, i + 1) for i, r in enumerate(doc) if isinstance(r, dict)]
    if fmt != "csv":
        raise StarlingError(f"unknown CMDB format {fmt!r} (csv or json)", code=ErrorCode.C001)
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise StarlingError("CMDB CSV has no header row", code=ErrorCode.C001)
    return [normalize(r, i + 2) for i, r in enumerate(reader)]


class FileSource:
    """A CSV or JSON export on disk."""

    def __init__(self, path: str, fmt: str = "") -> None:
        self.path, self.fmt = path, fmt

    def fetch(self) -> list[CmdbRecord]:
        try:
            with open(self.path, encoding="utf-8-sig") as fh:
                text = fh.read()
        except OSError as exc:
            raise StarlingError(f"cannot read {self.path}: {exc.strerror}", code=ErrorCode.C001) from exc
        fmt = self.fmt or ("json" if self.path.endswith(".json") else "csv" if self.path.endswith(".csv") else "")
        return parse_export(text, fmt)


class HttpSource:
    """An HTTP CMDB that answers JSON: follows ``next`` links (in the body or a
    ``Link: rel=next`` header) for paged answers."""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None, verify: Any = True, max_pages: int = 1000) -> None:
        self.url, self.headers, self.verify, self.max_pages = url, headers or {}, verify, max_pages

    def fetch(self) -> list[CmdbRecord]:
        import httpx

        out: list[CmdbRecord] = []
        url: str | None = self.url
        with httpx.Client(headers=self.headers, verify=self.verify, timeout=30) as http:
            for _ in range(self.max_pages):
                if not url:
                    break
                try:
                    resp = http.get(url)
                    resp.raise_for_status()
                    doc = resp.json()
                except (httpx.HTTPError, ValueError) as exc:
                    raise StarlingError(f"CMDB at {url} failed: {exc}", code=ErrorCode.C001) from exc
                out += parse_export(json.dumps(doc), "json")
                nxt = doc.get("next") if isinstance(doc, dict) else None
                url = str(httpx.URL(url).join(nxt)) if nxt else (str(resp.links["next"]["url"]) if "next" in resp.links else None)
        return out
