"""Check log rotation: parse the logrotate config, then find logs that are overdue or not covered.

``log.rotation`` reads the logrotate configuration (``/etc/logrotate.conf``
and everything it includes) into rules: which paths, how often, how many
generations, size limits, compression, scripts. It matches every rule's
patterns against the disk and, using logrotate's state file, reports for each
log its size, when it was last rotated, how many generations exist, whether
it is due now and whether it is overdue (rotation apparently not running),
plus the large files under the log directory that no rule covers. With
``syntax_check`` it also asks ``logrotate -d`` for configuration errors. It
only reads (``-d`` is logrotate's dry-run).
"""

from __future__ import annotations

import datetime
import fnmatch
import glob
import os
import re
import shlex
import stat as st
import time
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, abs_path, action
from plugins._fs import WalkStats, fs_errors, walk

from ._common import family, rotated_siblings

PLUGIN = Plugin("log.rotation", domain="logs")

PERIODS = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 31 * 86400, "yearly": 366 * 86400}
SCRIPTS = ("prerotate", "postrotate", "firstaction", "lastaction", "preremove")
STATE_FILES = ("/var/lib/logrotate/status", "/var/lib/logrotate/logrotate.status", "/var/lib/logrotate.status")
# logrotate skips included files with these endings (its default "tabooext" list).
TABOO = (".rpmsave", ".rpmorig", "~", ",v", ".disabled", ".dpkg-old", ".dpkg-dist", ".dpkg-new", ".cfsaved",
         ".ucf-old", ".ucf-dist", ".ucf-new", ".rpmnew", ".swp", ".cfsaved", ".rhn-cfg-tmp-*")


class RotationParams(msgspec.Struct, forbid_unknown_fields=True):
    config: str = "/etc/logrotate.conf"
    state: str | None = None
    log_dir: str = "/var/log"
    min_uncovered: Annotated[int, msgspec.Meta(ge=0)] = 10 * 1024 * 1024
    syntax_check: bool = False


class Rule(msgspec.Struct, omit_defaults=True):
    source: str
    patterns: list[str]
    frequency: str = ""
    rotate: int | None = None
    size: int | None = None
    minsize: int | None = None
    maxsize: int | None = None
    maxage: int | None = None
    compress: bool = False
    copytruncate: bool = False
    missingok: bool = False
    notifempty: bool = False
    dateext: bool = False
    scripts: list[str] = []


class LogFile(msgspec.Struct):
    path: str
    pattern: str
    size: int
    mtime: float
    last_rotated: float | None
    generations: int
    due: bool
    overdue: bool
    reasons: list[str]


class Uncovered(msgspec.Struct):
    path: str
    size: int


class RotationReport(msgspec.Struct):
    config: str
    state_file: str
    rules: list[Rule]
    files: list[LogFile]
    uncovered: list[Uncovered]
    problems: list[str]
    syntax_errors: list[str] | None = None


def parse_size(text: str) -> int:
    """logrotate sizes: ``100``, ``100k``, ``10M``, ``1G`` (powers of 1024)."""
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", text.strip())
    if not m:
        raise ValueError(f"bad size {text!r}")
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]


def _apply(rule: Rule, word: str, args: list[str], problems: list[str], where: str) -> None:
    try:
        if word in PERIODS:
            rule.frequency = word
        elif word == "rotate":
            rule.rotate = int(args[0])
        elif word in ("size", "minsize", "maxsize"):
            setattr(rule, word, parse_size(args[0].lstrip("+")))
        elif word == "maxage":
            rule.maxage = int(args[0])
        elif word in ("compress", "copytruncate", "missingok", "notifempty", "dateext"):
            setattr(rule, word, True)
        elif word in ("nocompress", "nocopytruncate", "nomissingok", "ifempty", "nodateext"):
            setattr(rule, {"ifempty": "notifempty"}.get(word, word[2:]), False)
    except (IndexError, ValueError):
        problems.append(f"{where}: bad arguments for {word}: {' '.join(args)!r}")


def _included(path: str) -> list[str]:
    if os.path.isdir(path):
        names = sorted(os.listdir(path))
        return [
            os.path.join(path, n)
            for n in names
            if not n.startswith(".") and not any(fnmatch.fnmatch(n, "*" + t) for t in TABOO)
            and os.path.isfile(os.path.join(path, n))
        ]
    return [path] if os.path.isfile(path) else []


def parse_config(path: str, defaults: Rule | None = None, seen: set[str] | None = None,
                 problems: list[str] | None = None) -> tuple[list[Rule], list[str]]:
    """Rules of a logrotate config file and what it includes; global directives become
    the defaults of every block that follows them (as logrotate does)."""
    problems = [] if problems is None else problems
    seen = set() if seen is None else seen
    glob_rule = defaults or Rule(source="(defaults)", patterns=[])
    rules: list[Rule] = []
    if os.path.realpath(path) in seen:
        return rules, problems
    seen.add(os.path.realpath(path))
    with open(path, errors="replace") as fh:
        lines = fh.read().splitlines()
    block: Rule | None = None
    pending: list[str] = []
    in_script = False
    for number, raw in enumerate(lines, 1):
        where = f"{path}:{number}"
        line = raw.strip()
        if in_script:
            if line == "endscript":
                in_script = False
            continue
        if not line or line.startswith("#"):
            continue
        if line == "}" and block is not None:
            rules.append(block)
            block = None
            continue
        if line.endswith("{") and block is None:
            try:
                pending += shlex.split(line[:-1])
            except ValueError:
                problems.append(f"{where}: cannot parse {line!r}")
                pending += line[:-1].split()
            block = msgspec.structs.replace(glob_rule, source=where, patterns=pending, scripts=[])
            pending = []
            continue
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = line.split()
        if not words:
            continue
        word, args = words[0], words[1:]
        target = block if block is not None else glob_rule
        if word in SCRIPTS:
            in_script = True
            if block is not None:
                block.scripts = [*block.scripts, word]
        elif word == "include" and args:
            if block is not None:
                problems.append(f"{where}: include inside a block is not allowed")
                continue
            for inc in _included(args[0]):
                sub, _ = parse_config(inc, glob_rule, seen, problems)
                rules += sub
        elif word.startswith("/") or word.startswith('"'):
            pending += words  # path patterns whose "{" comes on a later line
        else:
            _apply(target, word, args, problems, where)
    if block is not None:
        problems.append(f"{path}: block opened at {block.source} is never closed")
    return rules, problems


def read_state(path: str) -> dict[str, float]:
    """``{log path: last rotation (epoch)}`` from logrotate's state file."""
    out: dict[str, float] = {}
    try:
        with open(path, errors="replace") as fh:
            for line in fh:
                m = re.match(r'^"(.*)"\s+(\d+)-(\d+)-(\d+)(?:-(\d+):(\d+):(\d+))?', line)
                if m:
                    y, mo, d, h, mi, s = (int(x) if x else 0 for x in m.groups()[1:])
                    out[m.group(1)] = time.mktime(datetime.datetime(y, mo, d, h, mi, s).timetuple())
    except OSError:
        pass
    return out


def assess(path: str, rule: Rule, pattern: str, state: dict[str, float], now: float) -> LogFile:
    """Is this log due for rotation, and is it overdue (rotation not happening)?"""
    s = os.stat(path)
    last = state.get(path)
    gens = len(rotated_siblings(path))
    reasons: list[str] = []
    due = False
    overdue = False
    empty_ok = not (rule.notifempty and s.st_size == 0)
    if rule.maxsize is not None and s.st_size > rule.maxsize:
        due = True
        reasons.append(f"size {s.st_size} above maxsize {rule.maxsize}")
    if rule.size is not None:
        if s.st_size > rule.size:
            due = True
            reasons.append(f"size {s.st_size} above size {rule.size}")
            # logrotate runs daily: a size rule left unrotated well past a day is not running.
            if last is not None and now - last > 2 * 86400:
                overdue = True
    elif rule.frequency and empty_ok:
        period = PERIODS[rule.frequency]
        big_enough = rule.minsize is None or s.st_size >= rule.minsize
        if last is None:
            reasons.append("never rotated (not in the state file)")
        elif now - last >= period and big_enough:
            due = True
            reasons.append(f"{rule.frequency} period passed {int((now - last) // 3600)}h ago")
            if now - last >= 2 * period + 86400:
                overdue = True
    if overdue:
        reasons.append("overdue: check that logrotate runs (cron/systemd timer) and its errors")
    if rule.rotate is not None and gens > rule.rotate + 1:
        reasons.append(f"{gens} generations kept, rule says rotate {rule.rotate}")
    return LogFile(
        path=path,
        pattern=pattern,
        size=s.st_size,
        mtime=s.st_mtime,
        last_rotated=last,
        generations=gens,
        due=due,
        overdue=overdue,
        reasons=reasons,
    )


def _report(p: RotationParams, config: str, log_dir: str) -> RotationReport:
    with fs_errors(config):
        rules, problems = parse_config(config)
    state_file = p.state or next((f for f in STATE_FILES if os.path.exists(f)), "")
    state = read_state(state_file) if state_file else {}
    now = time.time()
    files: list[LogFile] = []
    covered: set[str] = set()
    for rule in rules:
        for pattern in rule.patterns:
            matches = sorted(glob.glob(pattern))
            if not matches and not rule.missingok and not glob.has_magic(pattern):
                problems.append(f"{rule.source}: {pattern} does not exist (and no missingok)")
            for path in matches:
                if path in covered or not os.path.isfile(path):
                    continue
                covered.add(path)
                files.append(assess(path, rule, pattern, state, now))
    uncovered: list[Uncovered] = []
    if os.path.isdir(log_dir):
        stats = WalkStats()
        for path, s, _ in walk(log_dir, stats, max_depth=8, max_entries=200_000):
            if not st.S_ISREG(s.st_mode) or s.st_size < p.min_uncovered or path in covered:
                continue
            live = os.path.join(os.path.dirname(path), family(os.path.basename(path)))
            if live in covered or path.endswith((".journal", ".journal~")):
                continue  # a rotated generation of a covered log, or systemd-journald's own files
            uncovered.append(Uncovered(path=path, size=s.st_size))
    uncovered.sort(key=lambda u: -u.size)
    return RotationReport(
        config=config,
        state_file=state_file,
        rules=rules,
        files=files,
        uncovered=uncovered,
        problems=problems,
    )


@action("log.rotation", risk=Risk.READ, timeout=120)
async def rotation(ctx: ActionContext, p: RotationParams) -> RotationReport:
    """logrotate rules, each covered log's rotation status, and large uncovered logs."""
    config = abs_path(p.config, "config")
    log_dir = abs_path(p.log_dir, "log_dir")
    if p.state is not None:
        abs_path(p.state, "state")
    report = _report(p, config, log_dir)
    if p.syntax_check:
        if ctx.which("logrotate") is None:
            raise InvalidParams("syntax_check: logrotate is not installed on this host")
        res = await ctx.run(["logrotate", "-d", "-s", "/dev/null", config])
        report.syntax_errors = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    return report
