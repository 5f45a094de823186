"""Starling's wire: message types, codec, framing and the carriers."""

# Public names load on first use (PEP 562): ``from transports import ErrorCode`` (the
# CLI's ``--help``) imports the error catalogue, not trio and the carriers. The names and
# their modules are the import lines of ``__init__.pyi``, which type checkers read too:
# add new public names THERE, not here. (Not lazy_loader: the agent does not depend on it.)
import importlib as _importlib
import re as _re


def _public() -> dict[str, str]:
    with open(__file__[: -len(".py")] + ".pyi", encoding="utf-8") as fh:
        stub = fh.read()
    where: dict[str, str] = {}
    for module, names in _re.findall(r"^from \.(\w+) import (\([^)]*\)|[^\n]*)", stub, _re.M):
        for name in names.strip("()").split(","):
            if name.strip():
                where[name.strip()] = module
    return where


_WHERE = _public()
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'transports' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
