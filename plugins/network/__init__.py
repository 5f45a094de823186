"""The network plugins (``net.*``), and the sockets capability other folders build on
(``sec.ports``): one row shape from procfs, psutil or ``ss``."""

from typing import TYPE_CHECKING

__all__ = ["Socket", "read_sockets"]

if TYPE_CHECKING:
    from ._sockets import Socket, read_sockets
else:
    from plugins._lazy import attach

    __getattr__, __dir__ = attach(__name__, {"_sockets": __all__})
