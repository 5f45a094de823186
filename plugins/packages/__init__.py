"""The package plugins (``pkg.*``), and the package capability other folders build on
(``state.pkg.installed``): dpkg/apt or rpm with dnf/yum behind one ``Backend``."""

from typing import TYPE_CHECKING

__all__ = ["Backend", "Change", "available", "choose"]

if TYPE_CHECKING:
    from ._backend import Backend, available, choose
    from ._common import Change
else:
    from plugins._lazy import attach

    __getattr__, __dir__ = attach(__name__, {"_backend": ["Backend", "available", "choose"], "_common": ["Change"]})
