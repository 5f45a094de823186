"""The nftables ruleset: tables, chains with hooks and policies, rules, sets.

``net.nft`` reads the whole ruleset from ``nft`` (structure from its JSON
output, each rule's text from the annotated listing) and returns every table,
every chain with its type, hook, priority and policy, every rule with its
handle, text, comment and counters, and the named sets with their element
counts. Tables that ``iptables-nft`` manages show up here too. Works in a
named network namespace. Listing only: nothing is changed.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    Plugin,
    Risk,
    action,
)

from ._common import require_netns, run_tool

PLUGIN = Plugin("net.nft", domain="network", requires=["nft"])

_FAMILIES = ("ip", "ip6", "inet", "arp", "bridge", "netdev")


class NftParams(msgspec.Struct, forbid_unknown_fields=True):
    family: str | None = None
    table: str | None = None
    netns: str | None = None


class NftTable(msgspec.Struct):
    family: str
    name: str
    handle: int


class NftChain(msgspec.Struct):
    family: str
    table: str
    name: str
    handle: int
    type: str = ""
    hook: str = ""
    priority: int | None = None
    policy: str = ""


class NftRule(msgspec.Struct):
    family: str
    table: str
    chain: str
    handle: int
    text: str
    comment: str = ""
    packets: int | None = None
    bytes: int | None = None
    verdict: str = ""


class NftSet(msgspec.Struct):
    family: str
    table: str
    name: str
    type: str
    elements: int


class NftRuleset(msgspec.Struct):
    tables: list[NftTable]
    chains: list[NftChain]
    rules: list[NftRule]
    sets: list[NftSet]


_TABLE = re.compile(r"^table (\S+) (\S+) \{")
_CHAIN = re.compile(r"^\s*chain (\S+) \{")
_HANDLE = re.compile(r"\s*# handle (\d+)$")
_VERDICTS = (
    "accept",
    "drop",
    "reject",
    "return",
    "jump",
    "goto",
    "queue",
    "continue",
    "masquerade",
    "snat",
    "dnat",
    "redirect",
)


def rule_texts(listing: str) -> dict[tuple[str, str, str, int], str]:
    """Map (family, table, chain, handle) to the rule's text in ``nft -a list ruleset``."""
    out: dict[tuple[str, str, str, int], str] = {}
    family = table = chain = ""
    depth = 0
    for line in listing.splitlines():
        m = _TABLE.match(line)
        if m and depth == 0:
            family, table = m.groups()
        elif depth == 1 and (m := _CHAIN.match(line)):
            chain = m.group(1)
        elif depth == 2 and chain:
            h = _HANDLE.search(line)
            if h:
                out[(family, table, chain, int(h.group(1)))] = line[: h.start()].strip()
        depth += line.count("{") - line.count("}")
        if depth <= 1:
            chain = ""
    return out


def _verdict(expr: list[dict[str, Any]]) -> str:
    for e in expr:
        for key in e:
            if key in _VERDICTS:
                return key
            if key == "xt" and e[key].get("type") == "target":
                return str(e[key].get("name", "")).lower()
    return ""


def parse_ruleset(data: dict[str, Any], texts: dict[tuple[str, str, str, int], str]) -> NftRuleset:
    rs = NftRuleset(tables=[], chains=[], rules=[], sets=[])
    for item in data.get("nftables", []):
        if "table" in item:
            t = item["table"]
            rs.tables.append(
                NftTable(family=t["family"], name=t["name"], handle=t.get("handle", 0))
            )
        elif "chain" in item:
            c = item["chain"]
            rs.chains.append(
                NftChain(
                    family=c["family"],
                    table=c["table"],
                    name=c["name"],
                    handle=c.get("handle", 0),
                    type=c.get("type", ""),
                    hook=c.get("hook", ""),
                    priority=c.get("prio"),
                    policy=c.get("policy", ""),
                )
            )
        elif "rule" in item:
            r = item["rule"]
            expr = r.get("expr", [])
            counter = next((e["counter"] for e in expr if isinstance(e.get("counter"), dict)), None)
            key = (r["family"], r["table"], r["chain"], r.get("handle", 0))
            rs.rules.append(
                NftRule(
                    family=r["family"],
                    table=r["table"],
                    chain=r["chain"],
                    handle=r.get("handle", 0),
                    text=texts.get(key, ""),
                    comment=r.get("comment", ""),
                    packets=counter.get("packets") if counter else None,
                    bytes=counter.get("bytes") if counter else None,
                    verdict=_verdict(expr),
                )
            )
        elif "set" in item or "map" in item:
            s = item.get("set") or item.get("map")
            kind = s.get("type", "")
            rs.sets.append(
                NftSet(
                    family=s["family"],
                    table=s["table"],
                    name=s["name"],
                    type=" . ".join(kind) if isinstance(kind, list) else str(kind),
                    elements=len(s.get("elem", [])),
                )
            )
    return rs


@action("net.nft", risk=Risk.READ, timeout=30)
async def nft(ctx: ActionContext, p: NftParams) -> NftRuleset:
    """Tables, chains (hook, priority, policy), rules with text and counters, and sets."""
    if p.family is not None and p.family not in _FAMILIES:
        raise InvalidParams(f"family: {p.family!r} is not one of {', '.join(_FAMILIES)}")
    if p.table is not None:
        if p.family is None:
            raise InvalidParams("table: give family too (a table name is only unique within a family)")
        if not re.match(r"^[A-Za-z0-9_.-]{1,64}$", p.table):
            raise InvalidParams(f"table: {p.table!r} is not a valid table name")
    netns = require_netns(p.netns)
    if p.table:
        what = ["table", str(p.family), p.table]
    elif p.family:
        what = ["ruleset", p.family]
    else:
        what = ["ruleset"]
    listing = await run_tool(ctx, ["nft", "-a", "list", *what], netns)
    try:
        data = json.loads(await run_tool(ctx, ["nft", "-j", "list", *what], netns) or "{}")
    except ValueError as exc:
        raise ActionError(f"nft printed no JSON: {exc}", code=ErrorCode.A008) from exc
    return parse_ruleset(data, rule_texts(listing))
