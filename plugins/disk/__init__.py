"""The disk plugins (``disk.*``), and the mount table other folders read
(``proc.cgroup`` finds the cgroup filesystems in it)."""

from typing import TYPE_CHECKING

__all__ = ["Mount", "mount_table"]

if TYPE_CHECKING:
    from ._common import Mount, mount_table
else:
    from plugins._lazy import attach

    __getattr__, __dir__ = attach(__name__, {"_common": __all__})
