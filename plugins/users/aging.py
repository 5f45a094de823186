"""Password and account ageing of a user: read it, or set the policy.

``user.aging`` reads ``chage -l``: when the password was last changed, when
it expires or becomes inactive, when the account expires, and the minimum,
maximum and warning days, with dates as ISO strings and a flag when a change
is forced at the next login. ``user.aging.set`` changes any of these with
``chage`` (maximum age, minimum age, warning days, inactivity, account expiry
date, or forcing a password change at next login) and returns the new state.
"""

from __future__ import annotations

import datetime
import re

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, InvalidParams, Plugin, Risk, action

from ._common import require_user, shadow_tool

PLUGIN = Plugin(
    "user.aging", domain="users", requires=["chage"]
)

_KEYS = {
    "Last password change": "last_change",
    "Password expires": "password_expires",
    "Password inactive": "password_inactive",
    "Account expires": "account_expires",
    "Minimum number of days between password change": "min_days",
    "Maximum number of days between password change": "max_days",
    "Number of days of warning before password expires": "warn_days",
}


class AgingParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str


class SetAgingParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    max_days: int | None = None
    """-1 removes the maximum."""
    min_days: int | None = None
    warn_days: int | None = None
    inactive_days: int | None = None
    """Days after expiry before the account is disabled; -1 never."""
    account_expires: str | None = None
    """``YYYY-MM-DD``, or ``never``."""
    force_change: bool = False
    """Make the user change the password at the next login."""


class Aging(msgspec.Struct):
    name: str
    last_change: str | None
    must_change: bool
    password_expires: str | None
    password_inactive: str | None
    account_expires: str | None
    min_days: int | None
    max_days: int | None
    warn_days: int | None


def _date(text: str) -> str | None:
    text = text.strip()
    if text in ("never", "") or text.startswith("password must be changed"):
        return None
    try:
        return datetime.datetime.strptime(text, "%b %d, %Y").date().isoformat()
    except ValueError:
        return text


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if re.fullmatch(r"-?\d+", text) else None


def parse_chage(name: str, text: str) -> Aging:
    raw: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in _KEYS:
            raw[_KEYS[key.strip()]] = value.strip()
    return Aging(
        name=name,
        last_change=_date(raw.get("last_change", "")),
        must_change="must be changed" in " ".join(raw.values()),
        password_expires=_date(raw.get("password_expires", "")),
        password_inactive=_date(raw.get("password_inactive", "")),
        account_expires=_date(raw.get("account_expires", "")),
        min_days=_int(raw.get("min_days", "")),
        max_days=_int(raw.get("max_days", "")),
        warn_days=_int(raw.get("warn_days", "")),
    )


async def _read(ctx: ActionContext, name: str) -> Aging:
    res = await ctx.run(["chage", "-l", "--", name], c_locale=True)
    if res.exit_code != 0:
        raise ActionError(f"chage -l {name}: {res.stderr.strip()}", code=ErrorCode.A008, data=res)
    return parse_chage(name, res.stdout)


@action("user.aging", risk=Risk.READ, timeout=20)
async def aging(ctx: ActionContext, p: AgingParams) -> Aging:
    """Last change, expiry dates and min/max/warn days of a user's password and account."""
    require_user(p.name, "name")
    return await _read(ctx, p.name)


@action("user.aging.set", risk=Risk.CHANGE, timeout=20)
async def set_aging(ctx: ActionContext, p: SetAgingParams) -> Aging:
    """Set max/min/warn/inactive days, account expiry, or force a change at next login."""
    pw = require_user(p.name, "name")
    argv = ["chage"]
    for flag, value in (
        ("-M", p.max_days),
        ("-m", p.min_days),
        ("-W", p.warn_days),
        ("-I", p.inactive_days),
    ):
        if value is not None:
            if not -1 <= value <= 99999:
                raise InvalidParams(f"{flag}: days must be between -1 and 99999")
            argv += [flag, str(value)]
    if p.account_expires is not None:
        if p.account_expires == "never":
            argv += ["-E", "-1"]
        else:
            try:
                datetime.date.fromisoformat(p.account_expires)
            except ValueError:
                raise InvalidParams("account_expires: give YYYY-MM-DD or never") from None
            argv += ["-E", p.account_expires]
    if p.force_change:
        if pw.pw_uid == 0:
            raise ActionError("refusing to force a password change on root", code=ErrorCode.A016)
        argv += ["-d", "0"]
    if len(argv) == 1:
        raise InvalidParams("give at least one setting to change")
    await shadow_tool(ctx, [*argv, "--", p.name], "chage")
    return await _read(ctx, p.name)
