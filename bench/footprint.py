"""Benchmark: the idle agent's footprint, and what would make it smaller.

    .venv/bin/python bench/footprint.py [--idle 10] [--variants all|none|a,b] [--bytecode compiled|source] [--json]

The agent runs as the packages ship it: its own modules compiled to bytecode first
(``contrib/packaging/build.sh`` runs compileall; the stdlib and the venv's packages
have theirs from their installers). ``--bytecode source`` removes the project's
``__pycache__`` and sets PYTHONDONTWRITEBYTECODE, so the agent compiles its own
modules at every start, as a development tree does on a machine that sets that
variable: compiling leaves ~0.3 MB more resident.

1. ``starling up --agents 1 --detach --port 0 --no-demo`` in a temporary
   STARLING_HOME starts a real center, proxy and agent. The agent's memory is
   read after ``--idle`` seconds (RSS, PSS, USS, anonymous vs file-backed, from
   ``/proc/PID/smaps_rollup``), its start-up time is the gap between its
   process start and the "connected to proxy" line of its log, the plugins
   available are the ``starling.plugins`` entry points of this environment, and
   it is read again after it ran one ``exec.run``.
2. A twin agent (same config, own identity and state) runs under
   ``PYTHONPROFILEIMPORTTIME=1`` (the seconds its ``import`` statements took) and
   writes its ``sys.modules`` on SIGUSR1 once idle: which modules, and so which
   plugins, an idle agent holds. (The import log alone misses every module loaded
   through ``importlib.import_module``: lazy names, plugin entry points.)
3. Variants: more twins, each with one candidate change (environment, Python
   flags, or a proposed code change applied by ``bench/_agent_launch.py``),
   measured the same way; plus bare interpreters for comparison.
4. An import breakdown: RSS after each group of imports the agent makes.

Prints markdown tables for docs/benchmarks.md (with ``--json``, then one JSON object
with the headline figures as the last line). Not a test; numbers vary with
the machine and its load, so compare rows of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LAUNCH = ROOT / "bench" / "_agent_launch.py"
SITE = next(p for p in sys.path if p.endswith("site-packages"))


def _codes(out: str) -> str:
    """The task codes of a failed ``starling run --json``, for a warning line."""
    try:
        return ",".join(sorted({r.get("code", "") for r in json.loads(out).get("results", [])})) or "no result"
    except (ValueError, AttributeError):
        return out[-200:]


@dataclass
class Variant:
    name: str
    pyflags: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    patches: list[str] = field(default_factory=list)
    trim: bool = False
    note: str = ""
    #: Run through bench/_agent_launch.py (patches, bench signal handlers).
    launcher: bool = False
    #: Also measure again after the agent ran one exec.run.
    then_task: bool = False

    def __post_init__(self) -> None:
        self.launcher = self.launcher or bool(self.patches) or self.trim


ALL_PATCHES = ["carriers", "ctypes-libc"]
VARIANTS = [
    Variant("twin (same command)", note="control: same as the agent above"),
    Variant("launcher, no patch", launcher=True, note="control for the patched rows"),
    Variant("MALLOC_ARENA_MAX=2", env={"MALLOC_ARENA_MAX": "2"}),
    Variant("malloc_trim(0) once idle", trim=True),
    Variant("-X frozen_modules=on", pyflags=["-X", "frozen_modules=on"]),
    Variant("-S (no site; PYTHONPATH)", pyflags=["-S"], env={"PYTHONPATH": f"{SITE}:{ROOT}"}),
    Variant("patch: one carrier", patches=["carriers"], note="applied in 5a02339: same as control now"),
    Variant("patch: ctypes prctl", patches=["ctypes-libc"]),
    Variant("-OO (no docstrings, no asserts)", pyflags=["-OO"]),
    Variant("-X no_debug_ranges (no column tables in code objects)", pyflags=["-X", "no_debug_ranges"]),
    Variant("PYTHONMALLOC=malloc", env={"PYTHONMALLOC": "malloc"}),
    Variant("all patches", patches=ALL_PATCHES, then_task=True),
    Variant("all patches + ARENA_MAX=2 + trim", patches=ALL_PATCHES, env={"MALLOC_ARENA_MAX": "2"}, trim=True),
]
BARE = {
    "python: import time; sleep": "import time; time.sleep(60)",
    "python: import trio; trio.run(sleep)": "import trio; trio.run(trio.sleep, 60)",
    "python: trio + msgspec + psutil + pluggy": "import trio, msgspec, psutil, pluggy; trio.run(trio.sleep, 60)",
}
IMPORT_STEPS = [
    ("trio", "import trio"),
    ("msgspec, pluggy, psutil", "import msgspec, pluggy, psutil"),
    ("transports (wire, codec, TCP)", "import transports"),
    ("agent_core (SDK, runner, host)", "import agent_core"),
    ("sqlite3 (journal)", "import sqlite3"),
    ("urllib.request (registration)", "import urllib.request"),
    ("PyNaCl ed25519 (signatures)", "import transports._signing"),
    ("agent_core._agent (rest)", "import agent_core._agent"),
    ("cffi cdef (prctl)", "from agent_core._libc import set_child_subreaper; set_child_subreaper()"),
    ("every carrier (quic, http)", "import transports; transports.available_schemes()"),
]


ALT_BASE = "import trio, transports, agent_core, sqlite3, urllib.request"
ALTERNATIVES = [
    ("Ed25519 with PyNaCl (today: transports._signing)", "import transports._signing"),
    ("Ed25519 with cryptography (before: its Rust library)",
     "from cryptography.hazmat.primitives.asymmetric import ed25519; ed25519.Ed25519PrivateKey.generate().sign(b'x')"),
    ("Ed25519 sign + verify with ssl's libcrypto via ctypes (bench/_ed25519_libcrypto.py)",
     "import _ed25519_libcrypto as e; s = bytes(32); e.verify(e.public_from_seed(s), e.sign(s, b'x'), b'x')"),
    ("prctl via cffi ABI mode (today: cdef imports pycparser)",
     "from agent_core._libc import set_child_subreaper; set_child_subreaper()"),
    ("prctl via ctypes", "import ctypes; ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)"),
    ("every carrier (what get_carrier('tcp') loaded before commit 5a02339)", "import transports; transports.available_schemes()"),
    ("get_carrier('tcp') now: the TCP carrier only", "import transports; transports.get_carrier('tcp')"),
]


def smaps(pid: int) -> dict[str, float]:
    """Memory of ``pid`` in MB from /proc/PID/smaps_rollup."""
    text = Path(f"/proc/{pid}/smaps_rollup").read_text()

    def kb(key: str) -> int:
        match = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
        return int(match.group(1)) if match else 0

    rss = kb("Rss")
    return {
        "rss": rss / 1024,
        "pss": kb("Pss") / 1024,
        "uss": (kb("Private_Clean") + kb("Private_Dirty")) / 1024,
        "anon": kb("Anonymous") / 1024,
        "file": (rss - kb("Anonymous")) / 1024,
        "threads": float(psutil.Process(pid).num_threads()),
    }


def mappings(pid: int, top: int = 8) -> list[list[object]]:
    """Resident MB per mapped file (or [anon]/[heap]) of ``pid``, largest first."""
    rss: dict[str, int] = {}
    anon: dict[str, int] = {}
    where = "[anon]"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            where = head[5] if len(head) > 5 else "[anon]"
        elif head and head[0] == "Rss:":
            rss[where] = rss.get(where, 0) + int(head[1])
        elif head and head[0] == "Anonymous:":
            anon[where] = anon.get(where, 0) + int(head[1])
    biggest = sorted(rss, key=lambda k: -rss[k])[:top]
    return [[name.replace(str(ROOT), "."), rss[name] / 1024, anon.get(name, 0) / 1024] for name in biggest]


def cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STARLING_HOME=str(home))
    return subprocess.run([str(BIN / "starling"), *args], capture_output=True, text=True, env=env, timeout=timeout)


def connected_at(log: Path, timeout: float = 60) -> float:
    """Timestamp of the agent's first "connected to proxy" log line."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            for line in log.read_text().splitlines():
                try:
                    doc = json.loads(line)
                except ValueError:
                    continue
                if str(doc.get("msg", "")).startswith("connected to proxy"):
                    return float(doc["ts"])
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"agent never connected; see {log}")


def plugin_modules() -> dict[str, str]:
    """Module of every available plugin -> ``dist:plugin``."""
    out = {}
    for ep in entry_points(group="starling.plugins"):
        dist = ep.dist.name if ep.dist is not None else "?"
        out[ep.value.split(":")[0]] = f"{dist}:{ep.name}"
    return out


def imported_modules(stderr: Path) -> tuple[list[str], float]:
    """Modules named in an ``-X importtime`` log, and the seconds spent importing."""
    names, total_us = [], 0
    for line in stderr.read_text(errors="replace").splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            _, cumulative, name = line.split(":", 1)[1].split("|")
            names.append(name.strip())
            if name.startswith(" ") and not name.startswith("  "):  # top level
                total_us += int(cumulative)
    return names, total_us / 1e6


#: The daemon, plus a SIGUSR1 handler writing ``sorted(sys.modules)`` to argv[2] (it
#: imports nothing the agent does not).
MODULES_LAUNCHER = """
import json, os, signal, sys
def dump(signum, frame):
    with open(sys.argv[2] + ".tmp", "w") as fh:
        json.dump(sorted(sys.modules), fh)
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
signal.signal(signal.SIGUSR1, dump)
from agent_core._daemon import main
sys.exit(main(["-c", sys.argv[1]]))
"""


class Twin:
    """Another agent with a copy of the real agent's config, its own identity and state."""

    def __init__(
        self, home: Path, template: Path, index: int, variant: Variant, extra_env: dict[str, str] | None = None, *, modules_to: Path | None = None,
    ) -> None:
        self.dir = home / "agents" / f"bench{index:02d}"
        self.dir.mkdir(parents=True)
        ident = (template / "identity.toml").read_text()
        ident = re.sub(r'^(sn|hostname) = "(.*)"', lambda m: f'{m.group(1)} = "{m.group(2)}-b{index:02d}"', ident, flags=re.M)
        found = re.search(r'^hostname = "(.*)"', ident, re.M)
        self.hostname = found.group(1) if found else ""
        (self.dir / "identity.toml").write_text(ident)
        conf = (template / "agent.toml").read_text()
        for key, value in (("state_dir", self.dir), ("identity_file", self.dir / "identity.toml"), ("log_file", self.dir / "agent.log")):
            conf = re.sub(rf"^{key} = .*$", f"{key} = {json.dumps(str(value))}", conf, flags=re.M)
        (self.dir / "agent.toml").write_text(conf)
        env = dict(os.environ, **variant.env, **(extra_env or {}))
        if variant.launcher:
            cmd = [sys.executable, *variant.pyflags, str(LAUNCH), *[f"--patch={p}" for p in variant.patches], "--", "-c", str(self.dir / "agent.toml")]
        elif modules_to is not None:
            cmd = [sys.executable, *variant.pyflags, "-c", MODULES_LAUNCHER, str(self.dir / "agent.toml"), str(modules_to)]
        else:
            cmd = [sys.executable, *variant.pyflags, "-m", "agent_core._daemon", "-c", str(self.dir / "agent.toml")]
        self.err = self.dir / "agent.out"
        # psutil's create_time rests on /proc/stat's btime, whole seconds: up to
        # 1 s off. The clock read just before the spawn is the honest start.
        self.spawned = time.time()
        with open(self.err, "wb") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=self.dir, start_new_session=True)

    def startup(self) -> float:
        """Seconds from the spawn to the "connected to proxy" log line."""
        took = connected_at(self.dir / "agent.log") - self.spawned
        if took > 2:  # say why, so an outlier is explained rather than averaged
            for line in (self.dir / "agent.log").read_text().splitlines()[:5]:
                print(f"slow start ({took:.1f} s) of {self.dir.name}: {line[:300]}", file=sys.stderr)
        return took

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def bare(code: str, settle: float, python: str = sys.executable) -> dict[str, float]:
    proc = subprocess.Popen([python, "-c", code])
    try:
        time.sleep(settle)
        return smaps(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def import_breakdown() -> list[tuple[str, float, float, int]]:
    """RSS and anonymous MB after each import step, in one fresh interpreter."""
    script = (
        "import re, sys, json\n"
        "def m():\n"
        "    t = open('/proc/self/smaps_rollup').read()\n"
        "    g = lambda k: int(re.search(rf'^{k}:\\s+(\\d+)', t, re.M).group(1))\n"
        "    return g('Rss') / 1024, g('Anonymous') / 1024, len(sys.modules)\n"
        "out = [('python', *m())]\n"
        f"for label, code in {IMPORT_STEPS!r}:\n"
        "    exec(code, {})\n"
        "    out.append((label, *m()))\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return [tuple(row) for row in json.loads(done.stdout)]  # type: ignore[misc]


def alternatives() -> list[list[object]]:
    """Extra RSS of each way of doing one job, over the agent's other imports."""
    probe = (
        "import re, sys, json\n"
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('_ed25519_libcrypto', {str(ROOT / 'bench' / '_ed25519_libcrypto.py')!r})\n"
        "sys.modules['_ed25519_libcrypto'] = mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "def m():\n"
        "    t = open('/proc/self/smaps_rollup').read()\n"
        "    g = lambda k: int(re.search(rf'^{k}:\\s+(\\d+)', t, re.M).group(1))\n"
        "    return g('Rss') / 1024, g('Anonymous') / 1024, len(sys.modules)\n"
        f"{ALT_BASE}\n"
        "a = m()\n"
        "exec(sys.argv[1], {})\n"
        "b = m()\n"
        "print(json.dumps([b[0] - a[0], b[1] - a[1], b[2] - a[2]]))\n"
    )
    rows: list[list[object]] = []
    for label, code in ALTERNATIVES:
        done = subprocess.run([sys.executable, "-c", probe, code], capture_output=True, text=True, check=True, cwd=ROOT)
        rss, anon, count = json.loads(done.stdout)
        rows.append([label, round(rss, 1), round(anon, 1), count])
    return rows


def table(headers: list[str], rows: list[list[object]]) -> str:
    def cell(v: object) -> str:
        return f"{v:.1f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


PROJECT_PACKAGES = ("agent_core", "transports", "plugins", "center")


def prepare_bytecode(mode: str) -> None:
    """Compile the project's modules as the packages do, or remove their bytecode."""
    if mode == "compiled":
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *PROJECT_PACKAGES], cwd=ROOT, check=True)
        return
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    for pkg in PROJECT_PACKAGES:
        for cache in (ROOT / pkg).rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle before reading memory")
    ap.add_argument("--variants", default="all", help="all, none, or comma-separated row numbers (1-based)")
    ap.add_argument("--trace", action="store_true", help="also dump the idle agent's top Python allocations (tracemalloc)")
    ap.add_argument("--keep", action="store_true", help="leave the temporary STARLING_HOME in place")
    ap.add_argument("--json", action="store_true", help="end with one JSON object of the headline figures")
    ap.add_argument("--bytecode", choices=("compiled", "source"), default="compiled",
                    help="compiled: as the packages ship (compileall first); source: compile at every start")
    args = ap.parse_args()
    prepare_bytecode(args.bytecode)
    if args.variants == "all":
        chosen = VARIANTS
    elif args.variants == "none":
        chosen = []
    else:
        chosen = [VARIANTS[int(i) - 1] for i in args.variants.split(",")]

    home = Path(tempfile.mkdtemp(prefix="starling-footprint-"))
    twins: list[Twin] = []
    try:
        t0 = time.monotonic()
        up = cli(home, "up", "--agents", "1", "--detach", "--port", "0", "--no-demo")
        if up.returncode != 0:
            raise SystemExit(up.stderr)
        up_s = time.monotonic() - t0
        profile = json.loads((home / "up.json").read_text())
        agent = profile["agents"][0]
        pid, adir = int(agent["pid"]), Path(agent["dir"])
        connected_at(adir / "agent.log")
        mods = plugin_modules()
        builtin = sum(1 for v in mods.values() if v.startswith("starling-fleet:"))
        time.sleep(args.idle)
        idle = smaps(pid)
        maps = mappings(pid)
        ran = cli(home, "run", "--host", agent["hostname"], "--json", "--timeout", "120", "--", "true")
        ran_note = "" if ran.returncode == 0 else f" (it failed: {_codes(ran.stdout)}; the machine is loaded?)"
        if ran_note:
            sys.stderr.write(f"warning: exec.run did not succeed{ran_note}\n")
        time.sleep(2)
        after = smaps(pid)

        # Start-up: `starling up` does not say when it spawned the agent, so time
        # twins (the same command) from their spawn; the median of three.
        starts = []
        for i in range(3):
            tw = Twin(home, adir, 90 + i, Variant("start-up"))
            twins.append(tw)
            starts.append(tw.startup())
            tw.stop()
        start_s = sorted(starts)[1]

        # Which modules (and so plugins) an idle agent imported: a twin under -X importtime.
        dump = home / "idle-modules.json"
        probe = Twin(home, adir, 0, Variant("importtime"), {"PYTHONPROFILEIMPORTTIME": "1"}, modules_to=dump)
        twins.append(probe)
        probe.startup()
        time.sleep(min(args.idle, 7))  # past the daemon's settle step (5 s after connecting)
        probe.proc.send_signal(signal.SIGUSR1)
        end = time.monotonic() + 30
        while not dump.exists() and time.monotonic() < end:
            time.sleep(0.2)
        names = json.loads(dump.read_text())
        _, import_s = imported_modules(probe.err)
        loaded_plugins = sorted({mods[n] for n in names if n in mods})
        probe.stop()

        print(f"## Idle agent (`starling up` took {up_s:.1f} s; bytecode: {args.bytecode})\n")
        print(table(
            ["agent", "rss_mb", "pss_mb", "uss_mb", "anon_mb", "file_mb", "threads", "start_to_connected_s (twins, median of 3)"],
            [
                [f"idle {args.idle:g}s", idle["rss"], idle["pss"], idle["uss"], idle["anon"], idle["file"], int(idle["threads"]), round(start_s, 2)],
                ["after one exec.run" + ran_note, after["rss"], after["pss"], after["uss"], after["anon"], after["file"], int(after["threads"]), ""],
            ],
        ))
        print(f"\nplugins available: {len(mods)} ({builtin} built-in, {len(mods) - builtin} third-party); "
              f"imported by the idle agent: {len(loaded_plugins)} {loaded_plugins}; modules held: {len(names)} "
              f"(its sys.modules); import statements took {import_s:.2f} s (-X importtime)\n")

        summary = {
            "idle_s": args.idle, "bytecode": args.bytecode,
            "idle_rss_mb": round(idle["rss"], 1), "idle_pss_mb": round(idle["pss"], 1), "idle_uss_mb": round(idle["uss"], 1),
            "after_run_rss_mb": round(after["rss"], 1), "after_run_uss_mb": round(after["uss"], 1),
            "startup_s": round(start_s, 2), "plugins_available": len(mods), "plugins_imported_idle": len(loaded_plugins),
            "modules_imported_idle": len(names),
            "goal_rss_34": idle["rss"] <= 34, "goal_uss_20": idle["uss"] <= 20, "goal_startup_1s": start_s <= 1,
            "heavy_loaded_idle": sorted(
                m for m in ("cryptography", "sqlalchemy", "rich", "starlette", "hypercorn", "bashlex", "aioquic", "center")
                if any(n == m or n.startswith(m + ".") for n in names)
            ),
        }

        print("Where the idle agent's resident pages are (largest mappings):\n")
        print(table(["mapping", "rss_mb", "anon_mb"], maps))
        print()

        if args.trace:
            trace_file = home / "trace.txt"
            tw = Twin(home, adir, 98, Variant("trace", launcher=True), {"PYTHONTRACEMALLOC": "1", "STARLING_BENCH_TRACE": str(trace_file)})
            twins.append(tw)
            tw.startup()
            time.sleep(args.idle)
            tw.proc.send_signal(signal.SIGUSR1)
            end = time.monotonic() + 60  # a snapshot of every traced block takes a while
            while not trace_file.exists() and time.monotonic() < end:
                time.sleep(0.5)
            time.sleep(0.5)
            print("## tracemalloc, idle twin (top files)\n\n```\n" + trace_file.read_text() + "```\n")
            tw.stop()

        rows = []
        for i, variant in enumerate(chosen, start=1):
            tw = Twin(home, adir, i, variant)
            twins.append(tw)
            start = tw.startup()
            time.sleep(args.idle)
            if variant.trim:
                tw.proc.send_signal(signal.SIGUSR2)
                time.sleep(1)
            m = smaps(tw.proc.pid)
            rows.append([variant.name, m["rss"], m["pss"], m["uss"], m["anon"], m["file"], round(start, 2), variant.note])
            if variant.then_task:
                ran = cli(home, "run", "--host", tw.hostname, "--json", "--timeout", "120", "--", "true")
                if ran.returncode != 0:
                    sys.stderr.write(f"warning: {variant.name}: exec.run failed: {_codes(ran.stdout)}\n")
                time.sleep(2)
                m = smaps(tw.proc.pid)
                rows.append([f"{variant.name}, after one exec.run", m["rss"], m["pss"], m["uss"], m["anon"], m["file"], "", "task verified, cmd plugin loaded"])
            tw.stop()
        if rows:
            print("## Variants (twin agents, same center and proxy)\n")
            print(table(["variant", "rss_mb", "pss_mb", "uss_mb", "anon_mb", "file_mb", "start_s", "note"], rows))
            print()

        brows = []
        for label, code in BARE.items():
            m = bare(code, 3)
            brows.append([label, m["rss"], m["uss"], m["anon"]])
        system = "/usr/bin/python3"
        if Path(system).exists() and Path(system).resolve() != Path(sys.executable).resolve():
            m = bare("import time; time.sleep(60)", 3, system)
            brows.append([f"{system} (the distribution's): import time; sleep", m["rss"], m["uss"], m["anon"]])
        print(f"## Bare interpreters ({sys.executable}, Python {sys.version.split()[0]})\n")
        print(table(["process", "rss_mb", "uss_mb", "anon_mb"], brows))
        print()

        steps = import_breakdown()
        print("## Import breakdown (one interpreter, cumulative)\n")
        prev = steps[0]
        irows = []
        for label, rss, anon, count in steps:
            irows.append([label, rss, round(rss - prev[1], 1), round(anon - prev[2], 1), count])
            prev = (label, rss, anon, count)
        print(table(["step", "rss_mb", "+rss_mb", "+anon_mb", "modules"], irows))
        print(f"\n## One job, two ways (extra MB over `{ALT_BASE}`)\n")
        print(table(["way", "+rss_mb", "+anon_mb", "+modules"], alternatives()))
        if args.json:
            print(json.dumps(summary))
    finally:
        for tw in twins:
            tw.stop()
        cli(home, "down")
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
