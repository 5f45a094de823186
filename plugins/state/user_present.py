"""Ensure a local user account exists with the declared uid, groups, home, shell and comment.

``state.user.present`` is the declarative face of the users capability: it
reads the account and plans the change with the same code as ``user.present``
/ ``user.absent`` (shadow-utils or busybox behind them), compares uid, primary
group, the exact set of supplementary ``groups``, home, shell and comment, and
runs only the commands for what differs (or, with ``present: false``, deletes
the account, keeping its home; a system account only when declared
``system: true``). It returns the state result: ``changed``, a text diff and a
comment; ``dry_run`` only reports; a second run changes nothing. An unknown
group is A017. Changes the user database (unless ``dry_run``).
"""

from __future__ import annotations

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action
from plugins.users import UserSpec, choose, find_user, plan_absent, plan_present, run_plan

from ._common import StateResult

PLUGIN = Plugin("state.user.present", domain="state")


class UserParams(UserSpec, forbid_unknown_fields=True):
    present: bool = True
    """``false``: the account must not exist (its home is kept)."""


def _spec(p: UserParams) -> UserSpec:
    fields = {f: getattr(p, f) for f in UserSpec.__struct_fields__}
    return UserSpec(**fields)


@action("state.user.present", risk=Risk.CHANGE, timeout=120)
async def present(ctx: ActionContext, p: UserParams) -> StateResult:
    """Ensure local user ``name`` exists as declared (or, with ``present: false``, does not)."""
    backend = choose(p.backend)
    spec = _spec(p)

    def plan() -> tuple[list[list[str]], str]:
        now = find_user(p.name)
        if p.present:
            return plan_present(spec, now, backend)
        return plan_absent(p.name, now, backend, remove_home=False, allow_system=p.system)

    commands, text = plan()
    if not commands and not text:
        state = "exists as declared" if p.present else "does not exist"
        return StateResult(name=p.name, changed=False, dry_run=p.dry_run, diff="", comment=f"user {p.name} {state}")
    tools = sorted({c[1] if c[0] == "busybox" else c[0] for c in commands})
    if p.dry_run:
        return StateResult(name=p.name, changed=True, dry_run=True, diff=text, comment=f"would run {', '.join(tools)}")
    await run_plan(ctx, commands)
    left, rest = plan()
    if left or rest:
        raise ActionError(f"user {p.name} still differs after {', '.join(tools)}: {'; '.join(rest.splitlines())}", code=ErrorCode.A014)
    return StateResult(name=p.name, changed=True, dry_run=False, diff=text, comment=f"ran {', '.join(tools)} for {p.name}")
