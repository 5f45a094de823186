"""Security building blocks of the center: signed API requests, the audit log, and
high-risk command interception."""

# Public names load on first use, so the API client's request signing (``._apiauth``) starts
# without bashlex and the rule tables. The names and their modules are the import lines of
# ``__init__.pyi`` (type checkers read it too): add new public names THERE, not here.
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
