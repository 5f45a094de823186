"""What the center knows of every action: the agents' declarations, read once.

Agents report a catalogue (see :mod:`transports._declarations`) at
registration; the center keeps each distinct catalogue once, by digest. For a
job, :meth:`ActionBook.resolve` answers, for the action and the targets:

- which targets do not have the action at all (their tasks fail at once with
  ``A001``, without a trip to the host);
- the params, validated against every distinct declaration among the targets
  and converted for the wire (base64 strings become bytes where the type says
  ``bytes``), or ``C024`` naming the field;
- the *effective* declaration the policy reads: the strictest over the targets
  (highest risk, every code-carrying field any of them marks, longest timeout).

A host that reported no catalogue (an agent too old to declare) is held to the
strictest declaration the center knows for the action from any host. An
action that no host declares is refused (``C023``): the center does not send
what nobody can check.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from transports import (
    ActionDecl,
    Catalogue,
    CodeRole,
    ErrorCode,
    StarlingError,
    code_fields,
    renamed_to,
)

from ._rows import HostRow

__all__ = ["ActionBook", "Effective", "Resolution", "RISK_ORDER"]

RISK_ORDER = {"read": 0, "change": 1, "danger": 2}
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1
#: Nesting beyond this in params is refused (C001): no real action needs it.
MAX_PARAMS_DEPTH = 32


@dataclass(frozen=True)
class Effective:
    """The strictest reading of one action over a set of declarations."""

    name: str
    risk: str
    timeout: float
    streams: bool
    code: dict[str, CodeRole]
    decls: tuple[ActionDecl, ...]

    def default(self, param: str) -> Any:
        """A param's declared default (from the first declaration that has one)."""
        for d in self.decls:
            prop = d.params.get("properties", {}).get(param)
            if isinstance(prop, dict) and "default" in prop:
                return prop["default"]
        return None


@dataclass
class Resolution:
    effective: Effective
    params: dict[str, Any]
    #: Targets (agent ids) whose catalogue lacks the action.
    missing: list[str] = field(default_factory=list)


class ActionBook:
    """Catalogues by digest, parsed once; validators compiled once per declaration."""

    def __init__(self) -> None:
        self._catalogues: dict[str, dict[str, ActionDecl]] = {}
        self._validators: dict[tuple[str, str], Any] = {}

    def knows(self, digest: str) -> bool:
        return digest in self._catalogues

    def add(self, digest: str, doc: bytes) -> None:
        self._catalogues[digest] = msgspec.json.decode(doc, type=Catalogue).by_name()

    def digests(self) -> list[str]:
        return list(self._catalogues)

    def declarations(self, action: str, digests: Iterable[str] | None = None) -> list[tuple[str, ActionDecl]]:
        pool = self._catalogues if digests is None else {d: self._catalogues[d] for d in digests if d in self._catalogues}
        return [(d, cat[action]) for d, cat in pool.items() if action in cat]

    def actions(self) -> dict[str, ActionDecl]:
        """Every action any host declares (one declaration each, the strictest risk)."""
        out: dict[str, ActionDecl] = {}
        for cat in self._catalogues.values():
            for name, decl in cat.items():
                if name not in out or RISK_ORDER.get(decl.risk, 2) > RISK_ORDER.get(out[name].risk, 2):
                    out[name] = decl
        return out

    def resolve(self, action: str, params: dict[str, Any], targets: Sequence[HostRow]) -> Resolution:
        """See the module docstring. ``targets``: the hosts (their ``id`` and ``catalogue``)."""
        if not action or len(action) > 128:
            raise StarlingError("give an action name (at most 128 characters)", code=ErrorCode.C001)
        _check_values(params)
        missing: list[str] = []
        chosen: dict[str, ActionDecl] = {}
        undeclared = False
        for t in targets:
            digest = t.catalogue
            cat = self._catalogues.get(digest)
            if cat is None:
                undeclared = True
            elif action in cat:
                chosen[digest] = cat[action]
            else:
                missing.append(t.id)
        if undeclared:
            # Hosts that declared nothing: the strictest of what every other host declares.
            for digest, decl in self.declarations(action):
                chosen.setdefault(digest, decl)
        if not chosen:
            new = renamed_to(action)
            # Never an alias: the old name is refused, with the name to use instead.
            hint = f"it was renamed to {new!r}" if new else "`starling plugins list` shows what hosts have"
            raise StarlingError(f"unknown action {action!r}: no host declares it ({hint})", code=ErrorCode.C023)
        decls = list(chosen.items())
        for digest, decl in decls:
            self._validate(digest, decl, params)
        converted = _to_wire(params, decls[0][1])
        code: dict[str, CodeRole] = {}
        for _, decl in decls:
            code.update(code_fields(decl))
        effective = Effective(
            name=action,
            risk=max((d.risk for _, d in decls), key=lambda r: RISK_ORDER.get(r, 2)),
            timeout=max(d.timeout for _, d in decls),
            streams=any(d.streams for _, d in decls),
            code=code,
            decls=tuple(d for _, d in decls),
        )
        return Resolution(effective=effective, params=converted, missing=missing)

    def _validate(self, digest: str, decl: ActionDecl, params: dict[str, Any]) -> None:
        import jsonschema

        key = (digest, decl.name)
        validator = self._validators.get(key)
        if validator is None:
            try:
                validator = jsonschema.Draft202012Validator(decl.params or {"type": "object"})
            except Exception:  # a schema we cannot compile is a declaration we cannot check
                raise StarlingError(f"{decl.name}: the hosts' declaration of its params is unreadable", code=ErrorCode.C024) from None
            self._validators[key] = validator
        error = jsonschema.exceptions.best_match(validator.iter_errors(params))
        if error is not None:
            where = ".".join(str(p) for p in error.absolute_path) or "params"
            raise StarlingError(f"{decl.name}: invalid params at {where}: {error.message[:300]}", code=ErrorCode.C024)


def _check_values(value: Any, depth: int = 0) -> None:
    """Params must fit the wire: integers in 64 bits, bounded nesting."""
    if depth > MAX_PARAMS_DEPTH:
        raise StarlingError(f"params nested deeper than {MAX_PARAMS_DEPTH} levels", code=ErrorCode.C001)
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise StarlingError("an integer in params does not fit in 64 bits", code=ErrorCode.C001)
    elif isinstance(value, dict):
        for v in value.values():
            _check_values(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_values(v, depth + 1)


def _is_bytes(schema: dict[str, Any]) -> bool:
    if schema.get("contentEncoding") == "base64":
        return True
    return any(isinstance(b, dict) and b.get("contentEncoding") == "base64" for b in schema.get("anyOf", []) or [])


def _to_wire(params: dict[str, Any], decl: ActionDecl) -> dict[str, Any]:
    """JSON has no bytes: where the declared type is ``bytes``, decode the base64 string."""
    props = decl.params.get("properties", {})
    out = dict(params)
    for name, schema in props.items():
        value = out.get(name)
        if isinstance(value, str) and isinstance(schema, dict) and _is_bytes(schema):
            try:
                out[name] = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                raise StarlingError(f"{decl.name}: params.{name} must be base64", code=ErrorCode.C024) from None
    return out
