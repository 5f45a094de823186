"""Security building blocks of the center: signed API requests, the audit log, and
high-risk command interception (``check_exec`` for everything an action will
execute; ``check_command`` and ``check_script`` for a shell line and a script)."""

# Public names load on first use, so the API client's request signing (``._apiauth``) starts
# without bashlex and the rule tables. The names and their modules are the import lines of
# ``__init__.pyi`` (type checkers read it too): add new public names THERE, not here.
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
