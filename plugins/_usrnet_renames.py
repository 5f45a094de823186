"""Old action name -> new action name, for the users, sockets and environment front-ends
(issue 15 §2).

Not a plugin. Kept here, as data, until the common rename table lands on main; it
moves there then. A value names the action that now does the job; where the params
changed, the comment says how the old call maps.
"""

from __future__ import annotations

RENAMED: dict[str, str] = {
    # users: one `user.*` set with one User shape; groups under `user.group.*`
    "user.add": "user.present",  # creates when absent; `groups` is the exact set
    "user.modify": "user.present",  # only the fields that differ; `add_groups` keeps the others
    "user.remove": "user.absent",  # same refusals (uid 0, system accounts without allow_system)
    "group.add": "user.group.present",
    "group.remove": "user.group.absent",
    "group.adduser": "user.group.present",  # {"name": G, "add_members": [U]}
    "group.deluser": "user.group.present",  # {"name": G, "remove_members": [U]}
    "group.list": "user.group.list",
    "sudo.check": "user.sudo.check",
    "sudo.rules": "user.sudo.rules",
    # state: the declarative face keeps its prefix; `user.present` is the front-end's now
    "user.present (state)": "state.user.present",
    # sockets: one `net.sockets` row shape over procfs / psutil / ss
    "net.connections": "net.sockets",  # {"state": "connected"}; processes is now on by default
    "net.listening": "net.sockets",  # {"state": "listening"}; `address` is now `local`
    "net.sockstat": "net.sockets.summary",
    # environment: one `proc.environ` for a process, the agent or a new command
    "sys.env": "proc.environ",  # no pid: the agent itself
    "exec.env": "proc.environ",  # `vars` is now `variables`, `source` is process/agent/command
}
