"""The service plugins (``svc.*``), and the service capability other folders build on:
systemd or SysV init behind one ``Backend`` (``state.service.running``), and the
``systemctl`` helpers (``sched.timer.list``)."""

from typing import TYPE_CHECKING

__all__ = [
    "Backend",
    "INITDIR",
    "Service",
    "available",
    "choose",
    "parse_list",
    "show",
    "systemctl",
    "systemd_running",
    "unit_pattern",
]

if TYPE_CHECKING:
    from ._backend import INITDIR, Backend, Service, available, choose
    from ._systemd import parse_list, show, systemctl, systemd_running, unit_pattern
else:
    from plugins._lazy import attach

    __getattr__, __dir__ = attach(
        __name__,
        {
            "_backend": ["INITDIR", "Backend", "Service", "available", "choose"],
            "_systemd": ["parse_list", "show", "systemctl", "systemd_running", "unit_pattern"],
        },
    )
