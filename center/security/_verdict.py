"""What a risk check returns: the findings and the verdict they add up to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from transports import ErrorCode

__all__ = ["EXIT_STATUS", "Finding", "Verdict", "VerdictName"]

VerdictName = Literal["allow", "warn", "approve", "block"]
EXIT_STATUS: dict[str, int] = {"allow": 0, "warn": 0, "approve": 2, "block": 3}
"""Suggested exit status of ``starling risk check`` per verdict."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule that matched one part of the command."""

    rule: str
    action: str
    message: str
    fragment: str
    via: tuple[str, ...] = ()
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "action": self.action,
            "message": self.message,
            "fragment": self.fragment,
            "via": list(self.via),
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of checking one command or script.

    ``verdict`` is the most severe action of all findings (``allow`` if none);
    ``rule``, ``message`` and ``fragment`` are those of the finding that decided it.
    """

    verdict: VerdictName
    rule: str | None = None
    message: str = ""
    fragment: str = ""
    findings: tuple[Finding, ...] = ()
    parsed: bool = True

    @property
    def code(self) -> ErrorCode | None:
        """The catalogue code a job refused or held for this verdict carries."""
        return {"block": ErrorCode.C010, "approve": ErrorCode.C011}.get(self.verdict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "rule": self.rule,
            "message": self.message,
            "fragment": self.fragment,
            "code": self.code.value if self.code else None,
            "parsed": self.parsed,
            "findings": [f.as_dict() for f in self.findings],
        }

    def one_line(self) -> str:
        """``block  fs.rm-recursive-system: recursive removal of / … — rm -rf /``."""
        if self.verdict == "allow":
            return "allow   no rule matched"
        top = self.findings[0]
        via = f" (via {' › '.join(top.via)})" if top.via else ""
        return f"{self.verdict:<7} {self.rule}: {self.message} — {self.fragment}{via}"
