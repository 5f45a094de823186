"""Greets from the host, and tells fortunes from a file the plugin ships.

``hello.greet`` answers with a greeting, the host name and the agent id: the
smallest action there is, and a quick way to see that a plugin package reached
a batch of hosts. ``hello.fortune`` reads ``fortunes.txt`` from the installed
package (package data inside the wheel) and returns one line, chosen by index,
by a search pattern, or at random. Neither changes anything on the host, and
neither needs anything beyond the package itself.
"""

# A plugin module is imported by the agent the first time one of its actions is
# called (or when the plugins are listed), never at agent start. Keep the
# top-level imports to the standard library, msgspec and agent_core, and import
# anything heavy inside the function that needs it: every megabyte imported here
# is paid by every agent on every host.

from __future__ import annotations

import random
import socket
from importlib import resources

import msgspec

from agent_core import ActionContext, ActionError, ErrorCode, Plugin, Risk, action

FORTUNES = "fortunes.txt"


def _fortunes() -> list[str]:
    """The fortunes shipped in the package, comments and blank lines left out."""
    text = resources.files("starling_hello").joinpath(FORTUNES).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _check() -> str | None:
    """Availability: ``None`` when the plugin can work here, else the reason.

    The agent calls it when the plugin is loaded. A plugin that needs a program
    uses ``requires=["tool"]`` instead, one that needs a file
    ``requires_files=["/path"]``. When this returns a reason, the plugin is
    listed as unavailable with it and every action answers ``A003``, so an
    operator sees "fortunes.txt missing" rather than a traceback.
    """
    try:
        return None if _fortunes() else f"{FORTUNES} has no fortunes"
    except OSError as exc:
        return f"{FORTUNES} unreadable: {exc}"


# The declaration: PLUGIN and the @action functions below are the whole plugin
# (no hooks to write). ``name`` must equal the entry-point name in pyproject.toml;
# the description defaults to the module docstring's first line (the catalogue
# shows it), and the version is the package's, from pyproject.toml alone (what
# `starling plugins list` reports per host).
PLUGIN = Plugin("hello", check=_check)


# -- hello.greet ----------------------------------------------------------------------

# Params are a msgspec Struct. The agent decodes and validates them before the
# action runs: a wrong type, or (thanks to forbid_unknown_fields) a misspelled
# field, fails the task with A002 and a message naming the field.
class GreetParams(msgspec.Struct, forbid_unknown_fields=True):
    #: Who to greet.
    name: str = "world"
    #: Upper-case the greeting.
    shout: bool = False


# The result is a Struct as well: its fields are the action's documented output
# (the center stores it and `starling run --json` prints it).
class Greeting(msgspec.Struct):
    text: str
    host: str
    agent_id: str


# @action turns an async function into an action. ``risk`` feeds the center's
# policy (READ changes nothing; CHANGE alters the host; DANGER can take it or its
# services down); ``timeout`` is the default limit (the caller may set another).
# The docstring becomes the action's description in the catalogue.
@action("hello.greet", risk=Risk.READ, timeout=5)
async def greet(ctx: ActionContext, p: GreetParams) -> Greeting:
    """Say hello to ``name`` from this host."""
    # Checks the type cannot express are still bad params: raise ActionError with
    # a catalogue code (never let an exception escape: that is A004, a bug).
    if not p.name.strip():
        raise ActionError("name must not be blank", code=ErrorCode.A002)
    text = f"hello {p.name}"
    # ctx.agent says who runs the action: agent id, host name, IDC, state dir.
    return Greeting(text=text.upper() if p.shout else text, host=socket.gethostname(), agent_id=ctx.agent.agent_id)


# -- hello.fortune --------------------------------------------------------------------


class FortuneParams(msgspec.Struct, forbid_unknown_fields=True):
    #: Pick this fortune (0-based); ``None`` picks one at random.
    index: int | None = None
    #: Only fortunes containing this text (case-insensitive).
    contains: str = ""


class Fortune(msgspec.Struct):
    text: str
    #: Its position in fortunes.txt (comments not counted).
    index: int
    #: How many fortunes the file holds.
    total: int


@action("hello.fortune", risk=Risk.READ, timeout=5)
async def fortune(ctx: ActionContext, p: FortuneParams) -> Fortune:
    """Return one fortune from the plugin's own fortunes.txt (by index, by text, or at random)."""
    lines = _fortunes()
    if p.index is not None:
        if not 0 <= p.index < len(lines):
            raise ActionError(f"index {p.index} out of range 0..{len(lines) - 1}", code=ErrorCode.A002)
        return Fortune(text=lines[p.index], index=p.index, total=len(lines))
    wanted = [i for i, line in enumerate(lines) if p.contains.lower() in line.lower()]
    if not wanted:
        # "Not found" has its own code, distinct from malformed params.
        raise ActionError(f"no fortune contains {p.contains!r}", code=ErrorCode.A017)
    i = random.choice(wanted)
    return Fortune(text=lines[i], index=i, total=len(lines))
