"""The proxy (channel) role: holds agent connections for one IDC.

``Proxy`` holds the links (to centers and to agents), ``ProxyFiles`` its file-chunk
cache, ``serve_proxy_http`` the HTTP endpoint beside it, and ``run_workers`` /
``worker_count`` spread one proxy over several processes (``center/_server.py``
``run_proxy`` puts them together).
"""

# Public names load on first use, so `from center.proxy import Proxy` loads neither the
# proxy's HTTP server (hypercorn, starlette) nor its workers. The names and their modules
# are the import lines of ``__init__.pyi`` (type checkers read it too): add new public
# names THERE, not here.
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
