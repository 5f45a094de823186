"""``starling``, the operator's command line, and the API client it uses.

The CLI is a package of its own inside the center's distribution: importing it, or its
client, never loads the server stack (contracts in pyproject.toml, [tool.importlinter];
what each command loads at run time: tests/center/test_cli_startup.py).

    from center.cli import Client            # the signed HTTP API client
    c = Client.from_profile()
    from center.cli import main              # the command line: main(["hosts", "--json"])

Modules, lowest first: ``_client`` (HTTP, signing) < ``_views`` (the ``--json``
documents) < ``_render`` (terminal output) < the commands (``_jobs``, ``_admin``,
``_diag``, ``_cp``, ``_setup``, ``_upgrade``) < ``_main`` (the parser, exit codes).
"""

# Public names load on first use: `from center.cli import Client` (as `starling up` does)
# runs none of the commands' modules, and the client's httpx loads only when the client is
# asked for. The names and their modules are the import lines of ``__init__.pyi`` (type
# checkers read it too): add new public names THERE, not here.
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)

#: Set by the command line (``_main.main``) for the commands that run no server in
#: their process: only synchronous HTTP/1.1 happens there, so the client imports httpx
#: and httpcore without trio, h2 and httpx's own command line (``_client._import_http``).
SYNC_HTTP_ONLY = False
