"""`starling` starts fast: building the parser and the API client never load the server
stack (timings are in bench/cli_startup.py; here we check what gets imported)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["sqlalchemy", "starlette", "hypercorn", "bashlex", "psycopg", "pymysql", "center._store", "center._center", "center._api", "center.security._risk"]


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nimport json; print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_loads_no_server_and_no_rich():
    code = "from center.cli import build_parser\nbuild_parser().format_help()"
    assert _loaded_after(code) == []
    assert _loaded_after(code + "\nassert 'rich' not in sys.modules") == []


def test_run_path_loads_client_without_server():
    # What `starling run` imports: the client (with request signing), the renderer, progress bars.
    code = "import center.cli, center.cli._render, rich.progress\nfrom center import Client\nfrom center.security._apiauth import StarlingAuth"
    assert _loaded_after(code) == []


def test_lazy_public_names_still_resolve():
    # The lazy package faces give the same objects as the modules they come from.
    import center
    import center.security
    from center._store import Store
    from center.security._risk import risk_check

    assert center.Store is Store and center.security.risk_check is risk_check
    assert "Center" in dir(center)


def test_cli_help_exits_zero():
    proc = subprocess.run([sys.executable, "-m", "center.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "COMMAND" in proc.stdout


def test_api_commands_run_without_trio_h2_or_httpx_cli():
    """httpcore would import trio (~80 ms of CPU) for async clients and h2 for HTTP/2,
    httpx its own command line (click, pygments, rich): a command that talks to the
    center does without them, and each stays importable afterwards."""
    skipped = ["trio", "anyio", "h2", "httpx._main", "click", "pygments", "msgspec"]
    code = (
        "from center.cli import main\n"
        "rc = main(['--api', 'https://127.0.0.1:9', 'hosts', '--json'])\n"
        f"loaded = [m for m in {skipped!r} if m in sys.modules]\n"
        "assert rc != 0 and 'httpcore' in sys.modules and 'httpx' in sys.modules and not loaded, (rc, loaded)\n"
        "import trio, anyio, h2.connection, httpx._main\n"
        "assert trio.run(trio.sleep, 0) is None\n"
    )
    assert _loaded_after(code) == []
    # A library user's client is left alone: httpcore keeps its trio and HTTP/2 support.
    library = "from center.cli import Client\nClient('https://127.0.0.1:9')\nassert 'trio' in sys.modules and 'h2' in sys.modules"
    assert _loaded_after(library) == []
