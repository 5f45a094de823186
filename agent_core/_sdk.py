"""What a plugin author writes against: actions, plugin info, errors, context.

A plugin module looks like this (see ``examples/starling-hello`` for a whole
package)::

    from typing import Annotated

    import msgspec
    from agent_core import ActionContext, Plugin, Risk, action

    PLUGIN = Plugin("hello", description="Greets.")

    class GreetParams(msgspec.Struct, forbid_unknown_fields=True):
        name: Annotated[str, msgspec.Meta(max_length=64)] = "world"

    class Greeting(msgspec.Struct):
        text: str

    @action("hello.greet", risk=Risk.READ, timeout=5)
    async def greet(ctx: ActionContext, p: GreetParams) -> Greeting:
        \"\"\"Return a greeting for ``name``.\"\"\"
        return Greeting(text=f"hello {p.name}")

The module's ``PLUGIN`` is its declaration and its actions are the ``@action``
functions defined in it: there is nothing to register. Constraints live in the
params type (``msgspec.Meta``), so they are checked before the action runs and
reach the schema the center validates against. pluggy hooks
(:mod:`agent_core.hookspecs`) remain for real events: residents, task
before/after, health.
"""

from __future__ import annotations

import enum
import inspect
import shutil
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, get_type_hints

import msgspec

from transports import CODE_KEY, ActionDecl, CodeRole, ErrorCode, StarlingError

if TYPE_CHECKING:
    from ._context import ActionContext


class Risk(enum.StrEnum):
    """How much an action can hurt: policy on the center keys off this."""

    READ = "read"
    CHANGE = "change"
    DANGER = "danger"


class ActionError(StarlingError):
    """Raise from an action to fail the task with a catalogue code.

    ``ActionError("no such unit", code=ErrorCode.A014)``; ``data`` is returned to
    the caller beside the code (e.g. a partial result).
    """

    code = ErrorCode.A004

    def __init__(self, message: str = "", *, code: ErrorCode | None = None, data: Any = None) -> None:
        super().__init__(message, code=code)
        self.data = data


class Unavailable(ActionError):
    """The plugin cannot work on this host (tool missing); code A003."""

    code = ErrorCode.A003


class InvalidParams(ActionError):
    """The params are well typed but make no sense together; code A002.

    Prefer constraints in the params type (``msgspec.Meta``): they are checked
    before the action runs and reach the schema. Raise this for the rest.
    """

    code = ErrorCode.A002


class NotFound(ActionError):
    """The process, file, unit, package or key named in the params does not exist here; code A017."""

    code = ErrorCode.A017


def code(role: CodeRole | str, **meta: Any) -> msgspec.Meta:
    """Mark a params field as carrying code, so the center's policy reads it.

    ``cmd: Annotated[str, code("command")]``; roles are those of
    :class:`transports.CodeRole` (``interpreter``, ``command``, ``script``,
    ``args``, ``stdin``, ``env``, ``package``, ``path``, ``opaque``). Other
    ``msgspec.Meta`` constraints (``max_length=…``) may be given as keywords.
    A field that can carry code and is not marked is a hole in the guard rails:
    the plugin contract test looks for the usual suspects.
    """
    extra = dict(meta.pop("extra_json_schema", {}) or {})
    extra[CODE_KEY] = CodeRole(role).value
    return msgspec.Meta(extra_json_schema=extra, **meta)


class NoParams(msgspec.Struct, forbid_unknown_fields=True):
    """Params type for actions that take none."""


ActionFn = Callable[["ActionContext", Any], Awaitable[Any]]


@dataclass(frozen=True)
class Action:
    """One callable capability, e.g. ``disk.usage``. Made by :func:`action`."""

    name: str
    fn: ActionFn
    params: type[msgspec.Struct]
    result: Any
    risk: Risk
    timeout: float
    description: str
    streams: bool = False
    #: A person waits on it (a terminal): it skips the throttle and the concurrency limit.
    interactive: bool = False

    def decode_params(self, raw: bytes | None) -> msgspec.Struct:
        """Validate MessagePack params; raises :class:`ActionError` A002."""
        try:
            if not raw:
                return msgspec.convert({}, self.params)
            return msgspec.msgpack.decode(raw, type=self.params)
        except msgspec.ValidationError as exc:
            # Params that came through the JSON API carry bytes as base64 text
            # (MessagePack has a bytes type, JSON has not): convert accepts that.
            try:
                return msgspec.convert(msgspec.msgpack.decode(raw or b"\x80"), self.params)
            except (msgspec.ValidationError, msgspec.DecodeError):
                pass
            raise ActionError(f"{self.name}: {exc}", code=ErrorCode.A002) from exc
        except msgspec.DecodeError as exc:
            raise ActionError(f"{self.name}: {exc}", code=ErrorCode.A002) from exc

    def declaration(self, plugin: str = "") -> ActionDecl:
        """This action as the center sees it (see :mod:`transports._declarations`)."""
        return ActionDecl(
            name=self.name, plugin=plugin, risk=self.risk.value, timeout=self.timeout,
            streams=self.streams, description=self.description.split("\n\n", 1)[0],
            params=params_schema(self.params),
        )

    def describe(self) -> dict[str, Any]:
        schema = msgspec.json.schema(self.params)
        return {
            "name": self.name,
            "risk": self.risk.value,
            "timeout": self.timeout,
            "streams": self.streams,
            "description": self.description,
            "params": schema,
        }


def params_schema(params: type[msgspec.Struct]) -> dict[str, Any]:
    """The params type's JSON schema with the top-level ``$ref`` resolved
    (``{"type": "object", "properties": …, "$defs": …}``)."""
    schema = msgspec.json.schema(params)
    defs = dict(schema.get("$defs", {}))
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/"):
        top = dict(defs[ref.rsplit("/", 1)[1]])
        top["$defs"] = defs  # refs inside stay "#/$defs/…"
        return top
    return schema


def action(
    name: str,
    *,
    risk: Risk | str,
    timeout: float = 60.0,
    streams: bool = False,
    description: str | None = None,
    interactive: bool = False,
) -> Callable[[ActionFn], Action]:
    """Declare an async function ``fn(ctx, params) -> result`` as an action.

    The params type is read from the annotation of the second argument (a
    ``msgspec.Struct``), the result type from the return annotation; the
    description defaults to the docstring.
    """
    if "." not in name:
        raise ValueError(f"action name {name!r} must be '<plugin>.<verb>'")

    def wrap(fn: ActionFn) -> Action:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"action {name} must be an async function")
        hints = get_type_hints(fn)
        arg_names = list(inspect.signature(fn).parameters)
        params = hints.get(arg_names[1], NoParams) if len(arg_names) > 1 else NoParams
        if not (isinstance(params, type) and issubclass(params, msgspec.Struct)):
            raise TypeError(f"action {name}: params must be a msgspec.Struct, not {params!r}")
        desc = description or inspect.cleandoc(fn.__doc__ or "")
        return Action(
            name=name,
            fn=fn,
            params=params,
            result=hints.get("return", Any),
            risk=Risk(risk),
            timeout=float(timeout),
            description=desc,
            streams=streams,
            interactive=interactive,
        )

    return wrap


@dataclass
class Plugin:
    """A plugin's declaration: the module-level ``PLUGIN`` of its module.

    :param name: the entry-point name, and the prefix of every action's name.
    :param description: one line; defaults to the first line of the module's docstring.
    :param version: defaults to the version of the distribution that installed the plugin.
    :param actions: the plugin's actions; by default every :class:`Action` defined in the module.
    :param requires: executables that must be on ``PATH`` for the plugin to work.
    :param requires_files: paths that must exist (``/run/systemd/system``).
    :param check: a callable returning ``None`` when available or the reason why not.
    """

    name: str
    description: str = ""
    version: str = ""
    actions: Sequence[Action] = ()
    requires: Sequence[str] = ()
    requires_files: Sequence[str] = ()
    check: Callable[[], str | None] | None = None
    domain: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def unavailable_reason(self) -> str | None:
        """Why this plugin cannot work on this host, or ``None`` if it can."""
        import os

        for exe in self.requires:
            if shutil.which(exe) is None:
                return f"{exe} not found on PATH"
        for path in self.requires_files:
            if not os.path.exists(path):
                return f"{path} does not exist"
        if self.check is not None:
            return self.check()
        return None


def declared_in(module: ModuleType) -> tuple[Plugin, list[Action]]:
    """A plugin module's declaration: its ``PLUGIN`` and its actions.

    The actions are ``PLUGIN.actions`` when given, else every :class:`Action`
    whose function is defined in ``module``, in source order. Raises
    :class:`TypeError` when the module has no ``PLUGIN``.
    """
    info = getattr(module, "PLUGIN", None)
    if not isinstance(info, Plugin):
        raise TypeError(f"{module.__name__} declares no PLUGIN = agent_core.Plugin(...)")
    if not info.description and module.__doc__:
        info.description = module.__doc__.strip().splitlines()[0]
    if info.actions:
        return info, list(info.actions)
    found = [
        value for value in vars(module).values()
        if isinstance(value, Action) and getattr(value.fn, "__module__", None) == module.__name__
    ]  # fmt: skip
    found.sort(key=lambda a: a.fn.__code__.co_firstlineno)
    return info, found
