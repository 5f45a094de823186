"""The one catalogue of failure codes, shared by every role.

A code is a layer letter and three digits:

* ``C`` — the center (API, policy, routing, storage)
* ``P`` — a proxy (connections to agents, fan-out)
* ``A`` — the agent (plugins, the task runner, the journal)
* ``E`` — the host's environment (host down, disk full, load too high)

Every code carries a one-line meaning and a hint for the operator.
``docs/error-codes.md`` is generated from this module (``starling codes --markdown``)
and a test fails when the two differ.
"""

from __future__ import annotations

import enum


class Layer(enum.StrEnum):
    CENTER = "C"
    PROXY = "P"
    AGENT = "A"
    ENVIRONMENT = "E"


class ErrorCode(enum.StrEnum):
    """A failure code. The value is the code itself (``"A002"``)."""

    meaning: str
    hint: str
    #: The HTTP status an API answer with this code carries (500 unless the code says).
    http_status: int

    def __new__(cls, code: str, meaning: str, hint: str, http_status: int = 500) -> ErrorCode:
        obj = str.__new__(cls, code)
        obj._value_ = code
        obj.meaning = meaning
        obj.hint = hint
        obj.http_status = http_status
        return obj

    @classmethod
    def of(cls, code: str, default: ErrorCode | None = None) -> ErrorCode:
        """The member for ``"A002"``; ``default`` (or ValueError) when unknown."""
        member = cls.__members__.get(code)
        if member is not None:
            return member
        if default is not None:
            return default
        raise ValueError(f"unknown error code {code!r}")

    @property
    def layer(self) -> Layer:
        return Layer(self.value[0])

    def describe(self) -> dict[str, str]:
        return {"code": self.value, "meaning": self.meaning, "hint": self.hint}

    # --- center -----------------------------------------------------------------
    C001 = ("C001", "malformed request", "Check the request body against the API description (/openapi.json).", 400)
    C002 = ("C002", "unknown host", "The host id is not registered; list hosts with `starling hosts`.", 404)
    C003 = ("C003", "no target matched", "The selection (hosts, tags, IDC) matched no registered host.", 404)
    C004 = ("C004", "job not found", "Check the job id; `starling jobs` lists recent jobs.", 404)
    C005 = ("C005", "no result before the deadline", "The agent was reachable but did not report in time; see the host's health and raise the timeout if the action is slow.")
    C006 = ("C006", "job cancelled before the task ran", "Someone cancelled the job; see the audit log for who.")
    C007 = ("C007", "authentication failed", "The request is unsigned, signed with an unknown key, or the signature does not match.", 401)
    C008 = ("C008", "request replayed or outside the clock window", "Sign every request afresh and keep the client's clock in sync (NTP).", 401)
    C009 = ("C009", "not permitted by the account's scope", "The account may not touch these hosts or run this action; ask an administrator to widen its scope.", 403)
    C010 = ("C010", "blocked by a high-risk command rule", "The command matched a block rule; `starling risk check -- CMD` shows which.", 403)
    C011 = ("C011", "waiting for approval", "The job needs a second account with the approver scope to approve it.", 202)
    C012 = ("C012", "approval rejected", "An approver rejected the job.", 409)
    C013 = ("C013", "too many hosts for this account", "Split the job, or ask for a higher max-hosts limit or an approval.", 403)
    C014 = ("C014", "raw command refused: command mapping is on", "This account must send its private aliases, not raw commands.", 403)
    C015 = ("C015", "no proxy available for the host's IDC", "Start a proxy in that IDC or check that the proxies are connected to the center.", 503)
    C016 = ("C016", "storage unavailable", "The center cannot reach its database; check the store and the center's log.", 503)
    C017 = ("C017", "enrollment refused", "The enrollment token is wrong or the host is revoked.", 403)
    C018 = ("C018", "request too large", "Send large files in chunks through the file actions.", 413)
    C019 = ("C019", "host revoked", "The host's credential was revoked; re-enroll it if that was a mistake.", 403)
    C020 = ("C020", "internal center error", "A bug: the center's log has the details under the request id.")
    C021 = ("C021", "a local Starling is already running", "Stop it first with `starling down`, or use another --state-dir.")
    C022 = ("C022", "a local role failed to start", "Read the role's log file named in the message.")
    C023 = ("C023", "unknown action: no host declares it", "Check the action's name; `starling plugins list` shows what the hosts declare.", 400)
    C024 = ("C024", "params do not match the action's declaration", "The message names the field; `starling plugins doc ACTION` shows the declared params.", 400)
    C025 = ("C025", "package not signed by a trusted publisher", "Sign the wheel with a publisher key the center trusts (`starling plugins sign`), then install it.", 403)
    C026 = ("C026", "job already finished", "A finished job keeps its final state; nothing was changed.", 409)
    C027 = ("C027", "unknown proxy", "The proxy id is not registered; GET /v1/proxies lists them.", 404)
    C028 = ("C028", "no such API route", "Check the path against the API description (/openapi.json).", 404)
    C029 = ("C029", "method not allowed on this route", "The Allow header lists the methods this route takes.", 405)
    C030 = ("C030", "a local config or key file is unusable", "The message names the file (config, audit key ring, anchor file); fix or restore it.")
    C031 = ("C031", "file chunk not on the center", "Upload the file's chunks first (`starling cp` does); the message names the missing ones.", 404)
    C032 = ("C032", "file larger than the allowed size", "Split the file, or raise the center's `max_file_bytes` (and the size cap of a collect).", 413)
    C033 = ("C033", "host skipped: diagnosed unhealthy at submission", "The rollout skips unhealthy hosts; the task's diagnosis says why. Fix the host and run again.")
    C034 = ("C034", "rollout stopped: the error threshold was reached", "Earlier waves failed too often; read their failures, fix, and submit again.")
    C035 = ("C035", "console request without its CSRF token", "A console page sends the X-Starling-CSRF header it read from GET /ui/session; reload the page.", 403)
    C036 = ("C036", "terminal token unknown, expired or already used", "Ask POST /api/v1/terminal/tokens for a new token just before opening the terminal; a token opens one session, once.", 401)
    C037 = ("C037", "origin not allowed for the terminal", "Open the terminal from the console itself, or add the embedding page's origin to [console] allowed_origins in center.toml.", 403)
    C038 = ("C038", "terminal line could not be checked", "The center could not tell which line the shell would run (cursor moved, screen and keystrokes disagree); press Ctrl-U and type the line again.", 403)
    C039 = ("C039", "the center cannot be reached", "The CLI or client got no answer from the center's API: check the URL (--api, STARLING_API), that the center runs (`starling up` starts one here), and the network between.", 503)
    C040 = ("C040", "invalid command line", "An unknown option, a missing argument or a bad value; `starling COMMAND --help` lists what the command takes.", 400)
    C041 = ("C041", "unexpected error in the command line tool", "A bug in the CLI: run again with STARLING_DEBUG=1 for the traceback and report it.")
    C042 = ("C042", "enrollment key proof invalid", "The enrollment was not signed by the public key it carries, or its time is more than 5 minutes off: check the host's clock (NTP) and that nothing rewrote the request.", 403)

    # --- proxy ------------------------------------------------------------------
    P001 = ("P001", "agent not connected to this proxy", "The agent moved or went away; the center re-dispatches when it reappears.")
    P002 = ("P002", "agent disconnected while the task was in flight", "The agent lost its connection mid-task; check the host, its network, and the agent's log.")
    P003 = ("P003", "protocol error on the wire", "A peer sent bytes that are not a valid frame; check versions and that nothing else listens on the port.")
    P004 = ("P004", "frame larger than the maximum", "Send large payloads in chunks; raise max_frame only if both ends agree.")
    P005 = ("P005", "peer authentication failed", "The agent's or proxy's credential is missing, expired or revoked; re-enroll it.")
    P006 = ("P006", "proxy overloaded, agent asked to move", "Add proxies to the IDC; the agent reconnects to a less loaded one.")
    P007 = ("P007", "proxy lost its link to the center", "The proxy reconnects by itself; results are kept by the agents until acknowledged.")
    P008 = ("P008", "unsupported protocol version", "Upgrade the older side; the hello message names both versions.")

    # --- agent ------------------------------------------------------------------
    A001 = ("A001", "unknown action", "No installed plugin provides this action; `starling plugins list` shows what the host has.")
    A002 = ("A002", "invalid parameters", "The parameters do not match the action's declared type; the message names the field.")
    A003 = ("A003", "plugin unavailable on this host", "The tool the plugin needs is missing on this host; the message says which.")
    A004 = ("A004", "the action raised an unexpected error", "A plugin bug: the agent's log has the traceback under the task id.")
    A005 = ("A005", "timed out", "The action ran longer than its timeout and its whole process tree was killed.")
    A006 = ("A006", "cancelled", "The job was cancelled and the process tree was killed.")
    A007 = ("A007", "interrupted by an agent restart; not run again", "The agent restarted while the task ran; to stay at-most-once it is not re-run. Check the host and retry if safe.")
    A008 = ("A008", "command exited with a non-zero status", "See exit_code and stderr.")
    A009 = ("A009", "could not start the command", "The program, interpreter or working directory does not exist or is not executable.")
    A010 = ("A010", "task signature invalid", "The task was not signed by the center or was altered on the way; suspect the proxy.")
    A011 = ("A011", "task expired or replayed", "The task's signature expired or its id was seen before; check clocks and the proxy.")
    A012 = ("A012", "plugin disabled on this host", "Enable it with `starling plugins enable`.")
    A013 = ("A013", "deferred by the throttle past the deadline", "The agent stayed over its CPU/memory budget or the host's load; see the throttle in the health report.")
    A014 = ("A014", "state change failed", "A declarative state action could not reach the desired state; the message says why.")
    A015 = ("A015", "file transfer checksum mismatch", "The transferred file did not match its checksum; retry the transfer.")
    A016 = ("A016", "permission denied", "The agent's user may not do this on the host.")
    A017 = ("A017", "target not found on the host", "The process, device, module, key or path named in the params does not exist here; the message names it.")
    A018 = ("A018", "task timeout, deadline or lifetime out of bounds", "The signed timeout, deadline or lifetime (expires - issued) is not finite or above the agent's max_task_timeout / max_task_lifetime; resubmit with sane times.")
    A019 = ("A019", "task issued before the agent's epoch or in the future", "The agent's journal was created after the job was issued (a replay, or a reinstall), or the clocks disagree; resubmit the job, and check NTP.")
    A020 = ("A020", "killed with its agent; not run again", "The agent stopped while the task ran and the task's whole process tree was killed with it; to stay at-most-once it is not re-run. Check the host and retry if safe.")
    A021 = ("A021", "file changed while it was being read", "Something wrote to the file during the transfer; retry when it is quiet (or copy a snapshot).")
    A022 = ("A022", "wrong kind of path: a directory where a file is expected, or the other way round", "Check the destination: copying a directory needs a directory target and a file needs a file path (or an existing directory ending in /).")
    A023 = ("A023", "terminal session idle for too long", "Nothing was typed for the session's idle timeout; open a new terminal.")
    A024 = ("A024", "terminal input too large or too fast", "A paste bigger than the terminal's input bound was refused; copy files with `starling cp` instead of pasting them.")
    A025 = ("A025", "plugin name already taken", "A plugin package may not provide a plugin named like a built-in one or like one of another installed package; rename its entry point in pyproject.toml (the name prefixes its actions).")
    A026 = ("A026", "agent upgrade not confirmed: the host did not come back on the new version", "The upgrade helper rolled the host back to the version it ran; its upgrade.log in the agent's state dir says why (install failed, or the new version did not connect in time).")

    # --- environment --------------------------------------------------------------
    E001 = ("E001", "host offline: agent not connected", "The host is down, unreachable, or its agent is not running; check the host and `systemctl status starling-agent`.")
    E002 = ("E002", "disk full on the host", "Free space on the host; the last health report shows which mount is full.")
    E003 = ("E003", "host load far above its cores", "The host is overloaded; retry later or find the hog with proc.top.")
    E004 = ("E004", "host out of memory", "The host is short of memory; look for the consumer with proc.top.")
    E005 = ("E005", "no heartbeat for longer than the grace period", "The agent stopped reporting; the host may be hung or partitioned.")
    E006 = ("E006", "not enough free disk space for the file", "Free space on the target filesystem (the message says how much is needed and how much is free), or copy elsewhere.")
    E007 = ("E007", "agent too old", "Upgrade the agent on the host; the diagnosis names the minimum version.")
    E008 = ("E008", "host clock skewed from the center's", "Run NTP/chrony on the host; signatures and deadlines need clocks within a minute.")


def catalogue_markdown() -> str:
    """Render the catalogue as the ``docs/error-codes.md`` page."""
    titles = {
        Layer.CENTER: "Center (C)",
        Layer.PROXY: "Proxy (P)",
        Layer.AGENT: "Agent (A)",
        Layer.ENVIRONMENT: "Environment (E)",
    }
    lines = [
        "# Error codes",
        "",
        "Generated from `transports/_codes.py` by `starling codes --markdown`; do not edit by hand.",
        "Every failure Starling reports carries exactly one of these codes.",
        "",
    ]
    for layer, title in titles.items():
        if layer is Layer.CENTER:
            lines += [f"## {title}", "", "The API answers a center code with the HTTP status beside it.", ""]
            lines += ["| code | HTTP | meaning | what to do |", "| --- | --- | --- | --- |"]
        else:
            lines += [f"## {title}", "", "| code | meaning | what to do |", "| --- | --- | --- |"]
        for code in ErrorCode:
            if code.layer is not layer:
                continue
            if layer is Layer.CENTER:
                lines.append(f"| `{code.value}` | {code.http_status} | {code.meaning} | {code.hint} |")
            else:
                lines.append(f"| `{code.value}` | {code.meaning} | {code.hint} |")
        lines.append("")
    return "\n".join(lines)
