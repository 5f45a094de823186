"""The log plugins (``log.*``), and the syslog line parser other folders read logs with
(``sec.failed_logins``)."""

from typing import TYPE_CHECKING

__all__ = ["Entry", "parse_line"]

if TYPE_CHECKING:
    from ._common import Entry, parse_line
else:
    from plugins._lazy import attach

    __getattr__, __dir__ = attach(__name__, {"_common": __all__})
