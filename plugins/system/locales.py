"""System locale: what is configured, what the agent runs with, what is installed.

``sys.locales`` reads the configured locale (``/etc/default/locale`` on Debian,
``/etc/locale.conf`` elsewhere), the ``LANG``/``LC_*`` variables the agent
itself runs with, the locales that are installed (``locale -a``, else the
directories under ``/usr/lib/locale``) and those enabled in ``/etc/locale.gen``.
It flags configured locales that are not installed, the cause of
"setlocale: cannot change locale" warnings and of mangled non-ASCII output.
Reads only.
"""

from __future__ import annotations

import locale as _locale
import os
import shutil

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action
from agent_core.procfs import is_dir, listdir, read

PLUGIN = Plugin("sys.locales", domain="system")

CONFIG_FILES = ("/etc/default/locale", "/etc/locale.conf")
LOCALE_GEN = "/etc/locale.gen"
LOCALE_DIR = "/usr/lib/locale"
BUILTIN = {"c", "posix", "c.utf8"}


class LocaleInfo(msgspec.Struct):
    configured: dict[str, str]
    config_file: str
    agent: dict[str, str]
    encoding: str
    installed: list[str]
    enabled_in_locale_gen: list[str]
    missing: list[str]


def normalize(name: str) -> str:
    """``en_US.UTF-8`` and ``en_US.utf8`` are the same locale to glibc."""
    base, _, enc = name.partition(".")
    enc, _, modifier = enc.partition("@")
    enc = enc.lower().replace("-", "")
    out = base + (f".{enc}" if enc else "") + (f"@{modifier}" if modifier else "")
    return out.lower() if base.upper() in ("C", "POSIX") else out


def parse_assignments(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[len("export "):]
        key, sep, value = line.partition("=")
        if sep and key and not key.startswith("#"):
            out[key.strip()] = value.strip().strip("\"'")
    return out


async def _installed(ctx: ActionContext) -> list[str]:
    if shutil.which("locale"):
        res = await ctx.run(["locale", "-a"])
        if res.exit_code == 0:
            return sorted(set(res.stdout.split()))
    return sorted(name for name in listdir(LOCALE_DIR) if is_dir(os.path.join(LOCALE_DIR, name)))


@action("sys.locales", risk=Risk.READ, timeout=15)
async def locale(ctx: ActionContext, p: NoParams) -> LocaleInfo:
    """Configured and effective LANG/LC_* settings, installed locales, and configured ones that are missing."""
    config_file, configured = "", {}
    for path in CONFIG_FILES:
        text = read(path)
        if text is not None:
            config_file, configured = path, parse_assignments(text)
            break
    agent = {k: v for k, v in sorted(os.environ.items()) if k == "LANG" or k == "LANGUAGE" or k.startswith("LC_")}
    installed = await _installed(ctx)
    have = {normalize(n) for n in installed} | BUILTIN
    enabled = []
    for line in (read(LOCALE_GEN) or "").splitlines():
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            enabled.append(fields[0])
    wanted = {v for k, v in configured.items() if k != "LANGUAGE" and v}
    wanted |= {v for k, v in agent.items() if k != "LANGUAGE" and v}
    return LocaleInfo(
        configured=configured,
        config_file=config_file,
        agent=agent,
        encoding=_locale.getpreferredencoding(False),
        installed=installed,
        enabled_in_locale_gen=enabled,
        missing=sorted(v for v in wanted if normalize(v) not in have),
    )
