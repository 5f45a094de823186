"""``starling``, the operator's command line, and the API client it uses."""

from ._client import ApiError, Client, home
from ._main import EXIT_CODES, build_parser, main

__all__ = ["EXIT_CODES", "ApiError", "Client", "build_parser", "home", "main"]
SYNC_HTTP_ONLY: bool
