"""CMDB import and consistency check on every store backend (real databases)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from center._cmdb import (
    FileSource,
    HttpSource,
    check,
    cmdb_records,
    import_records,
    parse_export,
    sync_tags,
)
from center._diagnosis import owner_of
from center._store import Store
from transports import StarlingError

CSV = """Serial,IP_Address,Hostname,Owner,DataCenter,Tags
SN-A,10.0.0.1,web-1,alice,bj1,web;prod
SN-B,10.0.0.99,web-2,bob,bj1,web
SN-X,10.0.0.3,web-3,carol,bj1,
SN-D,10.0.0.4,db-1,dave,sh2,db
SN-D,10.0.0.5,db-2,dave,sh2,db
SN-E,10.0.0.4,db-3,erin,sh2,db
"""


@pytest.fixture
def store(db_url):
    s = Store(db_url)
    s.create_all()
    for sn, ip, name, idc in [("SN-A", "10.0.0.1", "web-1", "bj1"), ("SN-B", "10.0.0.2", "web-2", "bj1"), ("SN-C", "10.0.0.3", "web-3", "bj1"),
                              ("SN-Z", "10.0.0.9", "stray-1", "bj1"), ("SN-Y", "10.0.0.9", "stray-2", "sh2")]:
        s.register_agent({"sn": sn, "ip": ip, "hostname": name, "idc": idc, "tags": ["base"]}, "0.1.0")
    yield s
    s.drop_all()
    s.engine.dispose()


def test_parse_csv_with_other_column_names():
    recs = parse_export(CSV)
    assert len(recs) == 6
    assert (recs[0].sn, recs[0].ip, recs[0].hostname, recs[0].owner, recs[0].idc, recs[0].tags) == ("SN-A", "10.0.0.1", "web-1", "alice", "bj1", ["web", "prod"])


def test_parse_json_shapes(tmp_path):
    doc = {"items": [{"sn": "S1", "ip": "10.1.1.1", "hostname": "h1", "owner": "o", "idc": "x", "tags": ["a", "b"]}]}
    path = tmp_path / "cmdb.json"
    path.write_text(json.dumps(doc))
    assert FileSource(str(path)).fetch()[0].tags == ["a", "b"]
    assert parse_export(json.dumps(doc["items"]))[0].sn == "S1"


@pytest.mark.parametrize("text", ["{not json", '{"x": 1}', "", '[{"sn": "' + "x" * 300 + '"}]'])
def test_bad_exports_get_clear_errors(text):
    with pytest.raises(StarlingError) as info:
        parse_export(text, "json" if text[:1] in "{[" else "csv")
    assert info.value.code.value == "C001"


def test_check_lists_every_mismatch_kind(store):
    import_records(store, parse_export(CSV))
    doc = check(store)
    kinds = {(i["kind"], (i.get("agent") or {}).get("hostname") or (i.get("cmdb") or {}).get("hostname") or i.get("value")) for i in doc["issues"]}
    assert ("ip_differs", "web-2") in kinds  # matched by SN-B, agent has 10.0.0.2
    assert ("sn_differs", "web-3") in kinds  # matched by IP 10.0.0.3, SN-X vs SN-C
    assert ("no_agent", "db-1") in kinds and ("no_agent", "db-2") in kinds
    assert ("not_in_cmdb", "stray-1") in kinds and ("not_in_cmdb", "stray-2") in kinds
    dupes = {(i["kind"], i["source"], i["value"]) for i in doc["issues"] if i["kind"].startswith("duplicate")}
    assert dupes == {("duplicate_sn", "cmdb", "SN-D"), ("duplicate_ip", "cmdb", "10.0.0.4"), ("duplicate_ip", "agents", "10.0.0.9")}
    assert not doc["ok"] and doc["counts"]["no_agent"] == 3 and doc["cmdb_records"] == 6 and doc["agents"] == 5


def test_consistent_cmdb_is_ok(store):
    recs = [{"sn": h.sn, "ip": h.ip, "hostname": h.hostname, "owner": "ops", "idc": h.idc} for h in store.select_agents(all_hosts=True) if not h.hostname.startswith("stray")]
    import_records(store, parse_export(json.dumps(recs)))
    doc = check(store)
    assert {i["kind"] for i in doc["issues"]} == {"not_in_cmdb", "duplicate_ip"}  # only the strays


def test_owner_and_tag_sync(store):
    import_records(store, parse_export(CSV))
    hosts = store.select_agents(all_hosts=True)
    owners = owner_of(store, hosts)
    by_name = {h.hostname: owners.get(h.id, {}).get("owner") for h in hosts}
    assert by_name["web-1"] == "alice" and by_name["web-2"] == "bob" and by_name["stray-1"] is None
    assert sync_tags(store)["updated"] >= 2
    tags = {h.hostname: h.tags for h in store.select_agents(all_hosts=True)}
    assert tags["web-1"] == ["base", "prod", "web"] and tags["stray-1"] == ["base"]


def test_replace_and_merge(store):
    import_records(store, parse_export(CSV))
    import_records(store, parse_export(CSV)[:1], replace=False)
    assert len(cmdb_records(store)) == 7
    import_records(store, parse_export(CSV)[:2])
    assert len(cmdb_records(store)) == 2


def test_http_cmdb_adapter_follows_pages():
    """A real HTTP CMDB on loopback, answering two pages."""
    pages = {
        "/hosts": {"items": [{"serial": "S1", "ip": "10.0.0.1", "name": "h1", "owner": "a"}], "next": "/hosts?page=2"},
        "/hosts?page=2": {"items": [{"serial": "S2", "ip": "10.0.0.2", "name": "h2", "owner": "b"}]},
    }

    class H(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = json.dumps(pages.get(self.path, {"error": "no"})).encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        recs = HttpSource(f"http://127.0.0.1:{server.server_port}/hosts").fetch()
        assert [(r.sn, r.hostname, r.owner) for r in recs] == [("S1", "h1", "a"), ("S2", "h2", "b")]
        with pytest.raises(StarlingError):
            HttpSource(f"http://127.0.0.1:{server.server_port}/missing").fetch()
    finally:
        server.shutdown()
        server.server_close()
