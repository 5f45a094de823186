"""The Starling center: API, routing, storage, policy; the proxy role; the CLI."""

# Public names load on first use, so the CLI and its API client start without the server
# stack. The names and their modules are the import lines of ``__init__.pyi`` (type checkers
# read it too): add new public names THERE, not here.
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
