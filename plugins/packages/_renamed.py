"""Old action name -> the action that does its work now (issue 15 §2: packages, services, state).

Not a plugin. Kept here until the common rename table lands; then this dict
moves there. An old name mapped to a front-end action whose params differ
says where its work went, not that the params carry over unchanged
(``unit`` became ``name``; ``deb.*``/``rpm.*`` take ``backend`` and ``root``).
"""

from __future__ import annotations

RENAMED: dict[str, str] = {
    # packages: dpkg/apt and rpm/dnf/yum are backends of pkg.*
    "deb.list": "pkg.list",
    "rpm.list": "pkg.list",
    "deb.info": "pkg.info",
    "rpm.info": "pkg.info",
    "deb.files": "pkg.files",
    "deb.verify": "pkg.verify",
    "rpm.verify": "pkg.verify",
    "apt.install": "pkg.install",
    "yum.install": "pkg.install",
    "apt.remove": "pkg.remove",
    "yum.remove": "pkg.remove",
    "apt.upgrades": "pkg.updates",
    "yum.updates": "pkg.updates",
    "apt.history": "pkg.apt.history",
    "apt.policy": "pkg.apt.policy",
    "pip.list": "pkg.pip.list",
    "pip.show": "pkg.pip.show",
    "pip.check": "pkg.pip.check",
    # services: systemd and sysv are backends of svc.*
    "sysv.status": "svc.status",
    "sysv.start": "svc.start",
    "sysv.stop": "svc.stop",
    "sysv.restart": "svc.restart",
    "sysv.reload": "svc.reload",
    "sysv.list": "svc.sysv.runlevels",
    "svc.boot.enable": "svc.enable",
    "svc.boot.disable": "svc.disable",
    # state: prefixed by their folder (user.present is the users helper's)
    "pkg.installed": "state.pkg.installed",
    "service.running": "state.service.running",
    "cron.present": "state.cron.present",
    "file.managed": "state.file.managed",
    "hosts.entry": "state.hosts.entry",
    "line.in_file": "state.line.in_file",
    "sysctl.present": "state.sysctl.present",
}
