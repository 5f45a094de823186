"""Programs in other languages: what a python, perl, ruby, node, php, lua or awk
program would run or destroy.

Each program is read into the same vocabulary the shell walk uses
(:class:`~._programs.Inner`): shell text it hands to a shell
(``os.system("…")``), command lines it executes (``subprocess.run([...])``),
and the file-system or process operations its libraries perform, written as
the equivalent command so that one rule set covers every language:
``shutil.rmtree(p)`` is ``rm -rf p``, ``os.remove(p)`` / ``unlink $p`` /
``fs.unlinkSync(p)`` is ``rm -f p``, ``open(p, "w")`` is a ``> p`` redirection,
``os.kill(1, 9)`` is ``kill -9 1``, and so on.

Python is parsed with :mod:`ast` (the real grammar); string values are followed
through assignments, concatenation, f-strings, ``join``, ``getattr`` and
``__import__``. The other languages are scanned: calls to known functions are
found by name, their arguments split at top-level commas, and string
expressions (literals, variables assigned earlier, concatenation) evaluated as
far as they are constant. Code that builds code at run time (``exec``/``eval``
of a computed string, ``getattr`` with a computed name, ``ctypes``) is reported
as *dynamic*: the analysis cannot follow it, so the caller holds it.
"""

from __future__ import annotations

import ast
import base64
import binascii
import codecs
import posixpath
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ._expand import PLACEHOLDER, Piece, Word
from ._programs import Inner

__all__ = ["MAX_CODE", "Reading", "read_program"]

MAX_CODE = 256 * 1024
_MAX_CALLS = 20_000
_MAX_LOOP = 8


@dataclass(slots=True)
class Reading:
    """What a program would do, as far as it can be read."""

    inners: list[Inner] = field(default_factory=list)
    dynamic: list[str] = field(default_factory=list)  # constructs that cannot be followed
    parsed: bool = True
    forkbomb: str = ""  # the fragment of a fork loop, if any
    limit: bool = False  # the reading stopped at its budget


def read_program(lang: str, code: str) -> Reading:
    """Read ``code`` written in ``lang`` (a key of :data:`~._programs.INTERPRETERS`)."""
    code = code[:MAX_CODE]
    if lang == "python":
        return _Python(code).read()
    scanner = _SCANNERS.get(lang)
    if scanner is None:
        return Reading(parsed=False)
    return _Scanner(scanner, code).read()


# --- values ------------------------------------------------------------------------------


def _unknown(source: str) -> Word:
    return Word([Piece("", known=False, sources=frozenset({source}))])


def _concat(words: list[Word]) -> Word:
    pieces: list[Piece] = []
    for w in words:
        pieces.extend(w.pieces)
    return Word(pieces or [Piece("")])


def _lit(text: str) -> Word:
    """A known string; a :data:`PLACEHOLDER` in it (an unknown the caller spliced in) stays unknown."""
    if PLACEHOLDER not in text:
        return Word.of(text)
    chunks = text.split(PLACEHOLDER)
    pieces: list[Piece] = []
    for k, chunk in enumerate(chunks):
        if k:
            pieces.append(Piece("", known=False, sources=frozenset({"$?"})))
        if chunk:
            pieces.append(Piece(chunk))
    return Word(pieces)


Value = Word | list[Word] | None

# What a library call does, written as a shell command: (program, flags) with
# the call's path arguments appended. Shared by every language below.
_REMOVE_TREE = ("rm", "-rf")
_REMOVE = ("rm", "-f")
_RMDIR = ("rmdir",)


class _Sink:
    """Turns one recognised call into :class:`Inner` objects."""

    def __init__(self, reading: Reading, lang: str) -> None:
        self.reading = reading
        self.lang = lang

    def shell(self, what: str, text: Word) -> None:
        self.reading.inners.append(Inner(f"{self.lang} {what}", script=text))

    def argv(self, what: str, argv: list[Word]) -> None:
        if argv:
            self.reading.inners.append(Inner(f"{self.lang} {what}", argv=argv))

    def command(self, what: str, prefix: tuple[str, ...], operands: list[Word]) -> None:
        if operands:
            self.argv(what, [Word.of(p) for p in prefix] + operands)

    def write(self, what: str, path: Word, append: bool = False) -> None:
        self.reading.inners.append(Inner(f"{self.lang} {what}", redirects=[(">>" if append else ">", path)]))

    def kill(self, what: str, pid: Word, sig: Word | None) -> None:
        signal = sig.text.removeprefix("SIG") if sig is not None and not sig.unknown else "TERM"
        self.argv(what, [Word.of("kill"), Word.of("-" + (signal or "TERM")), pid])


# --- python -----------------------------------------------------------------------------

_PY_SHELL = {"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput",
             "commands.getoutput", "commands.getstatusoutput", "platform.popen", "popen2.popen2",
             "asyncio.create_subprocess_shell"}  # fmt: skip
_PY_PROCESS = {"subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
               "subprocess.Popen", "pty.spawn"}  # fmt: skip
_PY_EXEC_V = {"os.execv", "os.execve", "os.execvp", "os.execvpe"}
_PY_EXEC_L = {"os.execl", "os.execle", "os.execlp", "os.execlpe"}
_PY_SPAWN_V = {"os.spawnv", "os.spawnve", "os.spawnvp", "os.spawnvpe"}
_PY_SPAWN_L = {"os.spawnl", "os.spawnle", "os.spawnlp", "os.spawnlpe"}
_PY_PATHS: dict[str, tuple[str, ...]] = {
    "shutil.rmtree": _REMOVE_TREE, "os.remove": _REMOVE, "os.unlink": _REMOVE, "os.rmdir": _RMDIR,
    "os.removedirs": _RMDIR, "pathlib.Path.unlink": _REMOVE, "pathlib.Path.rmdir": _RMDIR,
}  # fmt: skip
_PY_TWO_PATHS: dict[str, tuple[str, ...]] = {
    "shutil.move": ("mv",), "os.rename": ("mv",), "os.replace": ("mv",), "os.renames": ("mv",),
    "shutil.copy": ("cp",), "shutil.copy2": ("cp",), "shutil.copyfile": ("cp",), "os.symlink": ("ln", "-sf"),
    "os.link": ("ln", "-f"), "pathlib.Path.rename": ("mv",), "pathlib.Path.replace": ("mv",),
}  # fmt: skip
_PY_DYNAMIC = {"exec", "eval", "compile", "execfile", "builtins.exec", "builtins.eval", "runpy.run_path",
               "runpy.run_module", "importlib.import_module", "__import__", "ctypes.CDLL", "ctypes.cdll",
               "ctypes.PyDLL", "ctypes.CFUNCTYPE", "ctypes.cdll.LoadLibrary", "cffi.FFI", "pickle.loads",
               "marshal.loads", "types.FunctionType", "types.CodeType"}  # fmt: skip
_PY_DECODERS: dict[str, Callable[[str], bytes]] = {
    "base64.b64decode": lambda t: base64.b64decode(t + "=" * (-len(t) % 4)),
    "base64.urlsafe_b64decode": lambda t: base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)),
    "base64.b32decode": base64.b32decode,
    "bytes.fromhex": bytes.fromhex,
    "binascii.unhexlify": binascii.unhexlify,
    "codecs.decode": lambda t: codecs.decode(t, "rot13").encode(),
}
_PY_RISKY_MODULES = {"os", "posix", "subprocess", "shutil", "pty", "ctypes", "builtins", "__builtins__",
                     "importlib", "pathlib", "signal", "commands", "platform", "asyncio", "socket"}
_PY_PATH_TYPES = {"pathlib.Path", "pathlib.PosixPath", "pathlib.PurePath", "Path"}
_WRITE_MODES = re.compile(r"[wax+]")


class _Python:
    """Reads a python program with :mod:`ast`."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.reading = Reading()
        self.sink = _Sink(self.reading, "python")
        self.names: dict[str, str] = {}  # local name -> what it was imported as (dotted)
        self.values: dict[str, Value] = {}
        self.calls = 0
        self.loops: list[ast.AST] = []
        self.functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.dicts: dict[str, dict[str, Word]] = {}  # d = {"k": "v"}: d["k"] is known
        self.active: set[str] = set()

    def read(self) -> Reading:
        try:
            tree = ast.parse(self.code)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            self.reading.parsed = False
            return self.reading
        try:
            self._body(tree.body)
        except RecursionError:
            self.reading.limit = True
        return self.reading

    # statements in order, so that values assigned earlier are known later
    def _body(self, body: list[ast.stmt]) -> None:
        for stmt in body:
            self._stmt(stmt)

    def _stmt(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                self.names[local] = alias.name if alias.asname else alias.name.split(".")[0]
            return
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    continue  # `from os import *`: bare names resolve below through _STAR
                self.names[alias.asname or alias.name] = f"{node.module or ''}.{alias.name}"
            if any(a.name == "*" for a in node.names) and node.module:
                self.names.setdefault("*", "")
                self.names["*"] += " " + node.module
            return
        if isinstance(node, ast.Assign):
            self._expr(node.value)
            value = self._value(node.value)
            for target in node.targets:
                self._bind(target, value, node.value)
                if isinstance(target, ast.Name):
                    self._bind_dict(target.id, node.value)
            return
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            self._expr(node.value)
            self._bind(node.target, self._value(node.value), node.value)
            return
        if isinstance(node, ast.AugAssign):
            self._expr(node.value)
            if isinstance(node.target, ast.Name) and isinstance(node.op, ast.Add):
                old = self.values.get(node.target.id)
                new = self._value(node.value)
                if isinstance(old, Word) and isinstance(new, Word):
                    self.values[node.target.id] = _concat([old, new])
                elif isinstance(old, list) and isinstance(new, list):
                    self.values[node.target.id] = old + new
                else:
                    self.values[node.target.id] = None
            return
        if isinstance(node, ast.For | ast.AsyncFor):
            self._expr(node.iter)
            items = self._value(node.iter)
            if isinstance(items, list) and items and isinstance(node.target, ast.Name):
                for item in items[:_MAX_LOOP]:
                    self.values[node.target.id] = item
                    self._body(node.body)
            else:
                self._bind(node.target, None, None)
                self._body(node.body)
            self._body(node.orelse)
            return
        if isinstance(node, ast.While):
            self._expr(node.test)
            forever = isinstance(node.test, ast.Constant) and bool(node.test.value)
            if forever:
                self.loops.append(node)
            try:
                self._body(node.body)
            finally:
                if forever:
                    self.loops.pop()
            self._body(node.orelse)
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            # Read the body once with unknown parameters, and again at each call
            # with the arguments bound (see _call).
            self.functions[node.name] = node
            self.names.pop(node.name, None)
            saved = dict(self.values)
            for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs:
                self.values[a.arg] = _unknown("python")
            self._body(node.body)
            self.values = saved
            return
        if isinstance(node, ast.With | ast.AsyncWith):
            for with_item in node.items:
                self._expr(with_item.context_expr)
                if with_item.optional_vars is not None:
                    self._bind(with_item.optional_vars, None, None)
            self._body(node.body)
            return
        # Everything else: look at every expression and nested block in source order.
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.stmt):
                self._stmt(child)
            elif isinstance(child, ast.expr):
                self._expr(child)
            elif isinstance(child, ast.excepthandler | ast.match_case):
                for sub in ast.iter_child_nodes(child):
                    if isinstance(sub, ast.stmt):
                        self._stmt(sub)
                    elif isinstance(sub, ast.expr):
                        self._expr(sub)

    def _bind_dict(self, name: str, node: ast.expr) -> None:
        if isinstance(node, ast.Dict):
            known: dict[str, Word] = {}
            for k, v in zip(node.keys, node.values, strict=True):
                key = self._value(k) if k is not None else None
                value = self._value(v)
                if isinstance(key, Word) and not key.unknown and isinstance(value, Word):
                    known[key.text] = value
            self.dicts[name] = known
        else:
            self.dicts.pop(name, None)

    def _bind(self, target: ast.expr, value: Value, node: ast.expr | None) -> None:
        if isinstance(target, ast.Name):
            self.values[target.id] = value
            if node is not None and (dotted := self._callee(node, quiet=True)):
                # f = os.system; f("…")   /  s = getattr(os, "system")
                self.names[target.id] = dotted
            elif target.id in self.names and node is not None:
                self.names.pop(target.id, None)
        elif isinstance(target, ast.Tuple | ast.List):
            items = value if isinstance(value, list) and len(value) == len(target.elts) else None
            for k, elt in enumerate(target.elts):
                self._bind(elt, items[k] if items else None, None)

    # --- expressions ---------------------------------------------------------------

    def _expr(self, node: ast.expr) -> None:
        """Visit every call inside ``node``; a comprehension over a known list is
        visited once per item, with its variable bound."""
        skip: set[int] = set()
        for sub in ast.walk(node):
            if id(sub) in skip:
                for child in ast.iter_child_nodes(sub):
                    skip.add(id(child))
                continue
            if isinstance(sub, ast.ListComp | ast.SetComp | ast.GeneratorExp) and len(sub.generators) == 1:
                gen = sub.generators[0]
                items = self._value(gen.iter)
                if isinstance(items, list) and items and isinstance(gen.target, ast.Name):
                    saved = self.values.get(gen.target.id)
                    for item in items[:_MAX_LOOP]:
                        self.values[gen.target.id] = item
                        self._expr(sub.elt)
                    self.values[gen.target.id] = saved
                    skip.add(id(sub.elt))
                continue
            if isinstance(sub, ast.Call):
                self.calls += 1
                if self.calls > _MAX_CALLS:
                    self.reading.limit = True
                    return
                self._call(sub)

    def _dotted(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            star = self.names.get("*", "").split()
            for module in star:
                if f"{module}.{node.id}" in _KNOWN_PY:
                    return f"{module}.{node.id}"
            return node.id
        if isinstance(node, ast.Attribute):
            base = self._dotted(node.value)
            if base is None and isinstance(node.value, ast.Call):
                base = self._callee(node.value, quiet=True)
                if base is not None and base.endswith("__import__") is False and base in _PY_PATH_TYPES:
                    base = "pathlib.Path"
            if base is None:
                value = self._value(node.value)
                if isinstance(value, Word) and node.attr in ("unlink", "rmdir", "write_text", "write_bytes",
                                                             "open", "rename", "replace", "chmod", "touch"):
                    return f"pathlib.Path.{node.attr}"
                return None
            return f"{base}.{node.attr}"
        if isinstance(node, ast.Call):
            callee = self._callee(node, quiet=True)
            if callee in ("__import__", "importlib.import_module", "builtins.__import__") and node.args:
                name = self._value(node.args[0])
                if isinstance(name, Word) and not name.unknown:
                    return name.text
            if callee in ("getattr", "builtins.getattr") and len(node.args) >= 2:
                base = self._dotted(node.args[0])
                attr = self._value(node.args[1])
                if base is not None and isinstance(attr, Word) and not attr.unknown:
                    return f"{base}.{attr.text}"
        return None

    def _callee(self, node: ast.expr, quiet: bool = False) -> str | None:
        if isinstance(node, ast.Call):
            dotted = self._dotted(node.func)
            if dotted is not None and dotted.startswith("pathlib.Path.") is False:
                for path_type in _PY_PATH_TYPES:
                    if dotted == path_type:
                        return "pathlib.Path"
            return dotted
        if isinstance(node, ast.Attribute | ast.Name):
            dotted = self._dotted(node)
            if dotted is not None and (dotted in _KNOWN_PY or quiet is False):
                return dotted
        return None

    def _value(self, node: ast.expr | None) -> Value:
        if node is None:
            return None
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                return _lit(node.value)
            if isinstance(node.value, bool) or node.value is None:
                return None
            if isinstance(node.value, int | float):
                return Word.of(str(node.value))
            if isinstance(node.value, bytes):
                return _lit(node.value.decode("utf-8", "replace"))
            return None
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            inner = self._value(node.operand)
            if isinstance(inner, Word) and not inner.unknown and inner.text.isdigit():
                return Word.of("-" + inner.text)
            return _unknown("python")
        if isinstance(node, ast.Name):
            if node.id in self.values:
                return self.values[node.id]
            return _unknown("python")
        if isinstance(node, ast.List | ast.Tuple):
            items: list[Word] = []
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    starred = self._value(elt.value)
                    items.extend(starred if isinstance(starred, list) else [_unknown("python")])
                    continue
                v = self._value(elt)
                items.append(v if isinstance(v, Word) else _unknown("python"))
            return items
        if isinstance(node, ast.BinOp):
            left, right = self._value(node.left), self._value(node.right)
            if isinstance(node.op, ast.Add):
                if isinstance(left, Word) and isinstance(right, Word):
                    return _concat([left, right])
                if isinstance(left, list) and isinstance(right, list):
                    return left + right
            if isinstance(node.op, ast.Div) and isinstance(left, Word) and isinstance(right, Word):
                return _concat([left, Word.of("/"), right])  # pathlib: Path("/") / "etc"
            if isinstance(node.op, ast.Mod) and isinstance(left, Word) and not left.unknown:
                return self._percent(left.text, right)
            return _unknown("python")
        if isinstance(node, ast.Subscript):
            key = self._value(node.slice)
            if isinstance(key, Word) and not key.unknown:
                if isinstance(node.value, ast.Name) and node.value.id in self.dicts:
                    return self.dicts[node.value.id].get(key.text, _unknown("python"))
                base = self._value(node.value)
                if isinstance(base, list) and key.text.lstrip("-").isdigit():
                    index = int(key.text)
                    if -len(base) <= index < len(base):
                        return base[index]
            return _unknown("python")
        if isinstance(node, ast.JoinedStr):
            parts: list[Word] = []
            for piece in node.values:
                if isinstance(piece, ast.Constant) and isinstance(piece.value, str):
                    parts.append(Word.of(piece.value))
                elif isinstance(piece, ast.FormattedValue):
                    shown = self._value(piece.value)
                    parts.append(shown if isinstance(shown, Word) else _unknown("python"))
            return _concat(parts)
        if isinstance(node, ast.Call):
            return self._call_value(node)
        if isinstance(node, ast.Attribute):
            dotted = self._dotted(node)
            if dotted and dotted.startswith("signal.SIG"):
                return Word.of(dotted.split(".", 1)[1])
            return _unknown("python")
        return _unknown("python")

    def _format(self, fmt: str, node: ast.Call) -> Word:
        """``"{} {0} {name}".format(…)`` with known arguments."""
        parts: list[Word] = []
        auto = 0
        for chunk in re.split(r"(\{\{|\}\}|\{[^{}]*\})", fmt):
            if chunk in ("{{", "}}"):
                parts.append(Word.of(chunk[0]))
            elif chunk.startswith("{") and chunk.endswith("}"):
                field = chunk[1:-1].split(":", 1)[0].split("!", 1)[0]
                value: Value = None
                if field == "":
                    value = self._value(node.args[auto]) if auto < len(node.args) else None
                    auto += 1
                elif field.isdigit():
                    k = int(field)
                    value = self._value(node.args[k]) if k < len(node.args) else None
                else:
                    kw = self._kw(node, field)
                    value = self._value(kw) if kw is not None else None
                parts.append(value if isinstance(value, Word) else _unknown("python"))
            elif chunk:
                parts.append(Word.of(chunk))
        return _concat(parts)

    def _percent(self, fmt: str, right: Value) -> Word:
        values = right if isinstance(right, list) else [right] if isinstance(right, Word) else []
        parts: list[Word] = []
        k = 0
        for chunk in re.split(r"(%[-#0 +]*\d*(?:\.\d+)?[sdirf%])", fmt):
            if chunk == "%%":
                parts.append(Word.of("%"))
            elif chunk.startswith("%") and len(chunk) > 1:
                parts.append(values[k] if k < len(values) else _unknown("python"))
                k += 1
            elif chunk:
                parts.append(Word.of(chunk))
        return _concat(parts)

    def _call_value(self, node: ast.Call) -> Value:
        callee = self._callee(node, quiet=True) or ""
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "join" and node.args:
            sep = self._value(func.value)
            items = self._value(node.args[0])
            if isinstance(sep, Word) and isinstance(items, list):
                joined: list[Word] = []
                for k, item in enumerate(items):
                    if k:
                        joined.append(sep)
                    joined.append(item)
                return _concat(joined) if joined else Word.of("")
        if isinstance(func, ast.Attribute) and func.attr == "format":
            fmt = self._value(func.value)
            if isinstance(fmt, Word) and not fmt.unknown:
                return self._format(fmt.text, node)
            return _unknown("python")
        if isinstance(func, ast.Attribute) and func.attr in ("strip", "lower", "upper", "rstrip", "lstrip"):
            base = self._value(func.value)
            if isinstance(base, Word) and not base.unknown and not node.args:
                return Word.of(getattr(base.text, func.attr)())
        if isinstance(func, ast.Attribute) and func.attr == "split" and not node.args:
            base = self._value(func.value)
            if isinstance(base, Word) and not base.unknown:
                return [Word.of(p) for p in base.text.split()]
        if callee in ("os.path.join", "posixpath.join") and node.args:
            parts = [self._value(a) for a in node.args]
            if all(isinstance(p, Word) and not p.unknown for p in parts):
                return Word.of(posixpath.join(*[p.text for p in parts if isinstance(p, Word)]))
            return _unknown("python")
        if callee in ("str", "pathlib.Path", "os.fspath", "bytes.decode", "shlex.quote") and node.args:
            return self._value(node.args[0])
        if callee in ("shlex.split",) and node.args:
            base = self._value(node.args[0])
            if isinstance(base, Word) and not base.unknown:
                try:
                    import shlex

                    return [Word.of(p) for p in shlex.split(base.text)]
                except ValueError:
                    return _unknown("python")
        if callee in ("chr",) and node.args:
            v = self._value(node.args[0])
            if isinstance(v, Word) and v.text.isdigit() and not v.unknown:
                return Word.of(chr(int(v.text) % 0x110000))
        if callee in _PY_DECODERS and node.args:
            # Decode constant data as python would; what cannot be decoded stays
            # unknown and says where it came from (a shell it reaches is reported).
            data = self._word(self._value(node.args[0]))
            codec = self._word(self._arg(node, 1, "encoding")) if callee == "codecs.decode" else None
            if codec is not None and codec.text.replace("_", "") != "rot13":
                data = None
            if data is not None and not data.unknown:
                try:
                    return _lit(_PY_DECODERS[callee](data.text).decode("utf-8", "replace"))
                except (ValueError, TypeError):
                    pass
            return _unknown("base64")
        if isinstance(func, ast.Attribute) and func.attr == "decode":
            return self._value(func.value)
        return _unknown("python")

    # --- calls -------------------------------------------------------------------------

    def _kw(self, node: ast.Call, name: str) -> ast.expr | None:
        return next((k.value for k in node.keywords if k.arg == name), None)

    def _arg(self, node: ast.Call, k: int, name: str = "") -> Value:
        if k < len(node.args) and not isinstance(node.args[k], ast.Starred):
            return self._value(node.args[k])
        kw = self._kw(node, name) if name else None
        return self._value(kw) if kw is not None else None

    def _word(self, value: Value) -> Word | None:
        return value if isinstance(value, Word) else None

    def _call(self, node: ast.Call) -> None:
        callee = self._callee(node)
        if callee is None:
            return
        if callee in self.functions and callee not in self.active and len(self.active) < 4:
            self._inline(self.functions[callee], node)
            return
        if callee == "map" and len(node.args) == 2:
            items = self._value(node.args[1])
            if isinstance(items, list):
                for item in items[:_MAX_LOOP]:
                    if not item.unknown:
                        self._call(ast.Call(func=node.args[0], args=[ast.Constant(item.text)], keywords=[]))
            return
        sink = self.sink
        short = callee.rsplit(".", 1)[-1]
        if callee in ("os.fork", "os.forkpty") and self.loops:
            self.reading.forkbomb = "while True: os.fork()"
        if callee in ("exec", "eval", "compile", "builtins.exec", "builtins.eval", "execfile"):
            code = self._word(self._arg(node, 0))
            if code is not None and not code.unknown and callee != "execfile":
                nested = _Python(code.text)
                nested.names = dict(self.names)
                nested.values = dict(self.values)
                got = nested.read()
                self.reading.inners += got.inners
                self.reading.dynamic += got.dynamic
                self.reading.forkbomb = self.reading.forkbomb or got.forkbomb
                if not got.parsed:
                    self.reading.dynamic.append(f"{callee}() of text that is not python")
            else:
                self.reading.dynamic.append(f"{callee}() of a computed string")
            return
        if callee in _PY_DYNAMIC or callee.startswith("ctypes."):
            if callee in ("importlib.import_module", "__import__"):
                name = self._word(self._arg(node, 0))
                if name is not None and not name.unknown:
                    return
            self.reading.dynamic.append(f"{callee}(…)")
            return
        if callee in ("getattr", "builtins.getattr") and len(node.args) >= 2:
            # A computed attribute of a module that runs or removes things: os.<?>(…).
            attr = self._word(self._value(node.args[1]))
            base = self._dotted(node.args[0]) or ""
            if (attr is None or attr.unknown) and base.split(".")[0] in _PY_RISKY_MODULES:
                self.reading.dynamic.append(f"getattr({base}, <computed>)")
            return
        if callee in _PY_SHELL:
            text = self._word(self._arg(node, 0, "cmd"))
            if text is not None:
                sink.shell(short, text)
            return
        if callee in _PY_PROCESS or callee == "asyncio.create_subprocess_exec":
            if callee == "asyncio.create_subprocess_exec":
                argv = [self._word(self._value(a)) or _unknown("python") for a in node.args]
                sink.argv(short, argv)
                return
            first = self._arg(node, 0, "args")
            shell_kw = self._kw(node, "shell")
            shell = isinstance(shell_kw, ast.Constant) and bool(shell_kw.value) or (
                shell_kw is not None and not isinstance(shell_kw, ast.Constant))
            if isinstance(first, list):
                if shell and first:
                    sink.shell(short, first[0])
                else:
                    sink.argv(short, first)
            elif isinstance(first, Word):
                if shell or first.unknown:
                    sink.shell(short, first)
                else:
                    sink.argv(short, [first])
            return
        if callee in _PY_EXEC_V or callee in _PY_SPAWN_V or callee in ("os.posix_spawn", "os.posix_spawnp"):
            off = 1 if callee in _PY_SPAWN_V else 0
            path = self._word(self._arg(node, off))
            args = self._arg(node, off + 1)
            if isinstance(args, list):
                sink.argv(short, [path or _unknown("python")] + args[1:])
            elif path is not None:
                sink.argv(short, [path])
            return
        if callee in _PY_EXEC_L or callee in _PY_SPAWN_L:
            off = 1 if callee in _PY_SPAWN_L else 0
            words = [self._word(self._value(a)) or _unknown("python") for a in node.args[off:]]
            if callee.endswith("e") and len(words) > 1:
                words = words[:-1]  # the environment
            if words:
                sink.argv(short, [words[0]] + words[2:])
            return
        if callee in _PY_PATHS or (callee.startswith("pathlib.Path.") and short in ("unlink", "rmdir")):
            prefix = _PY_PATHS.get(callee) or (_REMOVE if short == "unlink" else _RMDIR)
            path = self._receiver_path(node) if callee.startswith("pathlib.Path.") else self._word(self._arg(node, 0, "path"))
            if path is not None:
                sink.command(callee, prefix, [path])
            return
        if callee in _PY_TWO_PATHS:
            if callee.startswith("pathlib.Path."):
                src, dst = self._receiver_path(node), self._word(self._arg(node, 0, "target"))
            else:
                src, dst = self._word(self._arg(node, 0, "src")), self._word(self._arg(node, 1, "dst"))
            if src is not None and dst is not None:
                sink.command(callee, _PY_TWO_PATHS[callee], [src, dst])
            return
        if callee in ("open", "io.open", "builtins.open", "codecs.open", "pathlib.Path.open"):
            if callee == "pathlib.Path.open":
                path, mode = self._receiver_path(node), self._word(self._arg(node, 0, "mode"))
            else:
                path, mode = self._word(self._arg(node, 0, "file")), self._word(self._arg(node, 1, "mode"))
            if path is not None and mode is not None and (mode.unknown or _WRITE_MODES.search(mode.text)):
                sink.write(f"open(…, {mode.display!r})", path, append="a" in mode.text and "w" not in mode.text)
            return
        if callee in ("pathlib.Path.write_text", "pathlib.Path.write_bytes", "pathlib.Path.touch"):
            path = self._receiver_path(node)
            if path is not None and short != "touch":
                sink.write(short, path)
            return
        if callee == "os.open":
            path = self._word(self._arg(node, 0, "path"))
            flags = ast.unparse(node.args[1]) if len(node.args) > 1 else ""
            if path is not None and ("O_TRUNC" in flags or "O_WRONLY" in flags or "O_RDWR" in flags):
                sink.write("os.open", path)
            return
        if callee in ("os.truncate",):
            path, size = self._word(self._arg(node, 0, "path")), self._word(self._arg(node, 1, "length"))
            if path is not None:
                sink.argv(short, [Word.of("truncate"), Word.of("-s"), size or Word.of("0"), path])
            return
        if callee in ("os.chmod", "os.lchmod", "pathlib.Path.chmod"):
            if callee == "pathlib.Path.chmod":
                path, mode = self._receiver_path(node), self._word(self._arg(node, 0, "mode"))
            else:
                path, mode = self._word(self._arg(node, 0, "path")), self._word(self._arg(node, 1, "mode"))
            if path is not None:
                sink.argv(short, [Word.of("chmod"), Word.of(_octal(mode)), path])
            return
        if callee in ("os.chown", "os.lchown", "shutil.chown"):
            path = self._word(self._arg(node, 0, "path"))
            if path is not None:
                sink.argv(short, [Word.of("chown"), Word.of("root"), path])
            return
        if callee in ("os.kill", "os.killpg"):
            pid, sig = self._word(self._arg(node, 0)), self._word(self._arg(node, 1))
            if pid is not None:
                if callee == "os.killpg" and not pid.unknown:
                    pid = Word.of("-" + pid.text)
                sink.kill(short, pid, sig)
            return
        if callee in ("os.reboot", "os.sync"):
            return

    def _inline(self, fn: ast.FunctionDef | ast.AsyncFunctionDef, node: ast.Call) -> None:
        """A call of a function the program defines: its body with the arguments bound."""
        saved = dict(self.values)
        params = fn.args.posonlyargs + fn.args.args
        for k, a in enumerate(params):
            self.values[a.arg] = self._value(node.args[k]) if k < len(node.args) else _unknown("python")
        for kw in node.keywords:
            if kw.arg is not None:
                self.values[kw.arg] = self._value(kw.value)
        self.active.add(fn.name)
        try:
            self._body(fn.body)
        finally:
            self.active.discard(fn.name)
            self.values = saved

    def _receiver_path(self, node: ast.Call) -> Word | None:
        if not isinstance(node.func, ast.Attribute):
            return None
        receiver = node.func.value
        if isinstance(receiver, ast.Call) and receiver.args:
            return self._word(self._value(receiver.args[0]))
        return self._word(self._value(receiver))


def _octal(mode: Word | None) -> str:
    if mode is None or mode.unknown:
        return "0"
    try:
        return format(int(mode.text, 0), "o")
    except ValueError:
        return mode.text


_KNOWN_PY = (
    _PY_SHELL | _PY_PROCESS | _PY_EXEC_V | _PY_EXEC_L | _PY_SPAWN_V | _PY_SPAWN_L | set(_PY_PATHS)
    | set(_PY_TWO_PATHS) | _PY_DYNAMIC
    | {"os.kill", "os.killpg", "os.truncate", "os.chmod", "os.chown", "shutil.chown", "os.open", "open",
       "os.fork", "os.path.join", "getattr", "exec", "eval", "asyncio.create_subprocess_exec"}
)  # fmt: skip


# --- scanned languages -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lexicon:
    """What the scanner needs to know of one language."""

    lang: str
    concat: str  # the string concatenation operator
    assign: re.Pattern[str]  # NAME = EXPR (group 1 name, group 2 expression)
    var: re.Pattern[str]  # a variable reference (group 1 name)
    shell: tuple[str, ...]  # functions that hand a string to /bin/sh
    process: tuple[str, ...]  # functions that run a program: one string is shell text, a list is argv
    remove_tree: tuple[str, ...]
    remove: tuple[str, ...]
    write: tuple[str, ...]  # functions whose first argument is a file they write
    kill: tuple[str, ...]
    dynamic: tuple[str, ...]  # functions that run code built at run time
    interpolate: bool = False  # double-quoted strings expand $name
    paren_optional: bool = False  # calls without parentheses (perl, ruby)
    recursive_flag: str = ""  # a remove is recursive when its options say so (node: recursive: true)
    kill_sig_first: bool = False  # kill(SIG, PID…) rather than kill(PID, SIG)
    open_write: tuple[str, ...] = ()  # open(path, mode) style functions
    mode_arg: int = 1


def _lexicon(lang: str, concat: str, assign: str, var: str, **kw: object) -> _Lexicon:
    return _Lexicon(lang, concat, re.compile(assign, re.M), re.compile(var), **kw)  # type: ignore[arg-type]


_SCANNERS: dict[str, _Lexicon] = {
    "perl": _lexicon(
        "perl", ".", r"(?:\b(?:my|our|local)\s+)?\$(\w+)\s*=\s*([^;=][^;]*);", r"^\$(\w+)$",
        shell=("system", "exec", "qx", "readpipe"), process=(),
        remove_tree=("rmtree", "remove_tree", "File::Path::rmtree", "File::Path::remove_tree"),
        remove=("unlink",), write=(), kill=("kill",), dynamic=("eval",),
        interpolate=True, paren_optional=True, kill_sig_first=True, open_write=("open", "sysopen"),
    ),
    "ruby": _lexicon(
        "ruby", "+", r"(?:^|;)\s*(\w+)\s*=\s*([^=\n;][^\n;]*)", r"^(\w+)$",
        shell=("system", "exec", "spawn", "IO.popen", "Open3.capture2", "Open3.capture2e", "Open3.capture3",
               "Open3.popen3", "Open3.popen2", "%x"), process=(),
        remove_tree=("FileUtils.rm_rf", "FileUtils.rm_r", "FileUtils.remove_dir", "FileUtils.rmtree",
                     "FileUtils.remove_entry", "FileUtils.remove_entry_secure", "FileUtils.remove_dir"),
        remove=("FileUtils.rm", "FileUtils.rm_f", "FileUtils.remove", "File.delete", "File.unlink",
                "FileUtils.safe_unlink"),
        write=("File.write", "IO.write", "File.binwrite"), kill=("Process.kill",),
        dynamic=("eval", "instance_eval", "class_eval", "module_eval", "send", "public_send", "Fiddle"),
        interpolate=True, paren_optional=True, kill_sig_first=True, open_write=("File.open", "File.new"),
    ),
    "node": _lexicon(
        "node", "+", r"(?:\b(?:const|let|var)\s+)?\b(\w+)\s*=\s*([^=;\n][^;\n]*)", r"^(\w+)$",
        shell=("execSync", "exec"), process=("spawn", "spawnSync", "execFile", "execFileSync", "fork"),
        remove_tree=("rimraf", "rimrafSync", "removeSync", "fse.remove", "rmRF"),
        remove=("unlinkSync", "unlink", "rmSync", "rm", "rmdirSync", "rmdir", "promises.rm",
                "promises.unlink"),
        write=("writeFileSync", "writeFile", "truncateSync", "truncate", "promises.writeFile",
               "createWriteStream", "openSync"),
        kill=("process.kill",), dynamic=("eval", "Function", "vm.runInThisContext", "vm.runInNewContext",
                                        "vm.Script", "runInContext"),
        recursive_flag="recursive",
    ),
    "php": _lexicon(
        "php", ".", r"\$(\w+)\s*=\s*([^;=][^;]*);", r"^\$(\w+)$",
        shell=("system", "exec", "shell_exec", "passthru", "popen", "proc_open", "pcntl_exec"), process=(),
        remove_tree=(), remove=("unlink", "rmdir"), write=("file_put_contents",),
        kill=("posix_kill",), dynamic=("eval", "assert", "create_function", "preg_replace_callback_array",
                                      "call_user_func", "call_user_func_array", "FFI::cdef"),
        interpolate=True, open_write=("fopen",),
    ),
    "lua": _lexicon(
        "lua", "..", r"(?:\blocal\s+)?\b(\w+)\s*=\s*([^=\n;][^\n;]*)", r"^(\w+)$",
        shell=("os.execute", "io.popen"), process=(), remove_tree=(), remove=("os.remove",),
        write=(), kill=(), dynamic=("load", "loadstring", "dofile", "loadfile", "require"),
        open_write=("io.open",),
    ),
    "awk": _lexicon(
        "awk", " ", r"\b(\w+)\s*=\s*(\"[^\"]*\")", r"^(\w+)$",
        shell=("system",), process=(), remove_tree=(), remove=(), write=(), kill=(), dynamic=(),
    ),
}  # fmt: skip

_STRING = re.compile(r"""'((?:\\.|[^'\\])*)'|"((?:\\.|[^"\\])*)"|`((?:\\.|[^`\\])*)`""", re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "e": "\x1b", "a": "\a"}


class _Scanner:
    """Finds calls in a program it does not parse fully (see the module docstring)."""

    def __init__(self, lex: _Lexicon, code: str) -> None:
        self.lex = lex
        self.code = code
        self.reading = Reading()
        self.sink = _Sink(self.reading, lex.lang)
        self.values: dict[str, Word] = {}
        self.lists: dict[str, list[Word]] = {}  # perl @a = (…), ruby a = %w[…] / […]
        self.aliases: dict[str, str] = {}  # node: const {execSync: e} = require(…) → e is execSync
        self.closing: dict[int, int] = {}

    def read(self) -> Reading:
        lex = self.lex
        self.closing = _bracket_map(self.code)
        # Constant strings assigned to variables, in source order (last one wins).
        for m in lex.assign.finditer(self.code):
            rhs = m.group(2).strip()
            value = self._expr(rhs)
            self.values[m.group(1)] = value
            if lex.lang == "ruby" and re.fullmatch(r"%[wW][(\[{<].*[)\]}>]|\[.*\]", rhs, re.S):
                self.lists[m.group(1)] = self._list(rhs)
        if lex.lang == "perl":
            for m in re.finditer(r"(?:\b(?:my|our|local)\s+)?@(\w+)\s*=\s*(\((?:[^;]*)\)|qw\s*[(\[{/][^;]*)\s*;", self.code):
                self.lists[m.group(1)] = self._list(m.group(2))
        if lex.lang == "node":
            for m in re.finditer(r"\{([^{}]*)\}\s*=\s*require\s*\(", self.code):
                for part in m.group(1).split(","):
                    original, _, local = part.partition(":")
                    if local.strip() and original.strip():
                        self.aliases[local.strip()] = original.strip()
            for m in re.finditer(r"\b(\w+)\s*=\s*require\s*\([^()]*\)\s*\.\s*(\w+)", self.code):
                self.aliases[m.group(1)] = m.group(2)
        calls = 0
        for name, args_text, pos in self._calls():
            calls += 1
            if calls > _MAX_CALLS:
                self.reading.limit = True
                break
            self._call(name, args_text, pos)
        if lex.lang in ("perl", "ruby", "php", "node"):
            for m in re.finditer(r"`((?:\\.|[^`\\])*)`", self.code):
                if lex.lang == "node":
                    continue  # template literals, not commands
                self.sink.shell("backticks", self._string(m.group(1), True))
        if lex.lang in ("perl", "ruby"):
            for m in re.finditer(r"(?:\bqx|%x)\s*([({\[/|!])", self.code):
                close = {"(": ")", "{": "}", "[": "]"}.get(m.group(1), m.group(1))
                end = self.code.find(close, m.end(), m.end() + _MAX_SPAN)
                if end > 0:
                    self.sink.shell("qx", self._string(self.code[m.end() : end], True))
        if lex.lang == "awk":
            self._awk_pipes()
        if lex.lang in ("node", "ruby", "php", "lua"):
            for m in re.finditer(r"\[([^\[\]]{1,200})\]\s*\(", self.code):
                member = self._expr(m.group(1))
                if member.unknown or member.text not in self._names():
                    continue
                end = self.closing.get(m.end() - 1, -1)
                if end > 0:
                    self._call(member.text, self.code[m.end() : end], m.start())
        if lex.lang == "php":
            for m in re.finditer(r"(?<![\w>:])\$(\w+)\s*\(", self.code):
                # $f(...): the function's name is a value.
                bound = self.values.get(m.group(1))
                if bound is not None and not bound.unknown and bound.text in lex.shell:
                    end = self.closing.get(m.end() - 1, -1)
                    args = _split_top(self.code[m.end() : end], ",") if end > 0 else []
                    if args and args[0].strip():
                        self.sink.shell(bound.text, self._expr(args[0]))
                        continue
                self.reading.dynamic.append(f"${m.group(1)}(…)")
        if re.search(r"fork\s*while\s*fork|while\s*\(?\s*(1|true)\s*\)?\s*[{:]?\s*(\w+\.)?fork\b|loop\s*\{\s*fork"
                     r"|for\s*\(\s*;\s*;\s*\)\s*\{?\s*(pcntl_)?fork", self.code):
            self.reading.forkbomb = "fork in an endless loop"
        return self.reading

    # --- expressions ------------------------------------------------------------------

    def _string(self, body: str, interpolate: bool) -> Word:
        out: list[Word] = []
        i = 0
        buf: list[str] = []
        while i < len(body):
            c = body[i]
            if c == "\\" and i + 1 < len(body):
                buf.append(_ESCAPES.get(body[i + 1], body[i + 1]))
                i += 2
                continue
            if interpolate and c == "#" and body.startswith("#{", i) and self.lex.lang == "ruby":
                end = self.closing_in(body, i + 1)
                if end > 0:
                    out.append(Word.of("".join(buf)))
                    buf = []
                    out.append(self._expr(body[i + 2 : end]))  # "#{expr}": any expression
                    i = end + 1
                    continue
            if interpolate and c in "$#@" and i + 1 < len(body):
                m = re.match(r"\$\{?(\w+)\}?|#\{(\w+)\}|\$\{(\w+)\}", body[i:])
                if m and (c != "#" or body[i + 1] == "{") and (c != "@"):
                    out.append(Word.of("".join(buf)))
                    buf = []
                    name = m.group(1) or m.group(2) or m.group(3)
                    out.append(self.values.get(name, _unknown(self.lex.lang)))
                    i += m.end()
                    continue
            buf.append(c)
            i += 1
        out.append(_lit("".join(buf)))
        return _concat(out)

    @staticmethod
    def closing_in(text: str, open_at: int) -> int:
        return _close(text, open_at)

    def _term(self, term: str) -> Word:
        term = term.strip().rstrip(";").strip()
        join = re.fullmatch(r"join\s*\(?\s*(.+?)\s*,\s*(.+?)\)?", term, re.S) if self.lex.lang == "perl" else None
        if join:
            sep = self._expr(join.group(1))
            items = self._list(join.group(2))
            joined: list[Word] = []
            for k, item in enumerate(items):
                if k:
                    joined.append(sep)
                joined.append(item)
            return _concat(joined) if joined else Word.of("")
        while term.startswith("(") and term.endswith(")") and _balanced(term[1:-1]):
            term = term[1:-1].strip()
        m = _STRING.fullmatch(term)
        if m:
            if m.group(1) is not None:
                # Single quotes: literal (perl/ruby/php/sh), but escapes still work in node/lua.
                raw = m.group(1)
                if self.lex.lang in ("perl", "ruby", "php"):
                    return Word.of(raw.replace("\\'", "'").replace("\\\\", "\\"))
                return self._string(raw, False)
            if m.group(2) is not None:
                return self._string(m.group(2), self.lex.interpolate)
            return self._string(m.group(3), self.lex.lang in ("node", "perl", "ruby"))
        if self.lex.lang == "node" and term.startswith("`") and term.endswith("`"):
            return self._string(term[1:-1], True)
        if re.fullmatch(r"-?\d+", term):
            return Word.of(term)
        if self.lex.lang == "ruby" and re.fullmatch(r":\w+[?!]?", term):
            return Word.of(term[1:])  # a symbol: :system
        v = self.lex.var.match(term)
        if v:
            return self.values.get(v.group(1), _unknown(self.lex.lang))
        if re.fullmatch(r"['\"]?(SIG)?[A-Z]+['\"]?|:[A-Z]+", term):
            return Word.of(term.strip("'\":"))
        return _unknown(self.lex.lang)

    def _expr(self, text: str) -> Word:
        op = self.lex.concat
        parts = _split_top(text, op) if op.strip() else [text]
        return _concat([self._term(p) for p in parts])

    def _list(self, text: str) -> list[Word]:
        text = text.strip()
        m = re.fullmatch(r"(?:qw|%[wW])\s*[(\[{/<](.*)[)\]}/>]", text, re.S)
        if m:
            return [Word.of(p) for p in m.group(1).split()]
        if text.startswith("[") and text.endswith("]") or (text.startswith("(") and text.endswith(")")):
            text = text[1:-1]
        m = re.fullmatch(r"(?:qw|%[wW])\s*[(\[{/<](.*)[)\]}/>]", text, re.S)
        if m:
            return [Word.of(p) for p in m.group(1).split()]
        return [self._expr(p) for p in _split_top(text, ",") if p.strip()]

    # --- calls ------------------------------------------------------------------------

    def _names(self) -> list[str]:
        lex = self.lex
        names = [*lex.shell, *lex.process, *lex.remove_tree, *lex.remove, *lex.write, *lex.kill, *lex.dynamic,
                 *lex.open_write, "rename", "truncate", "chmod", "move", "mv", "renameSync", *self.aliases]  # fmt: skip
        return sorted({n for n in names if n not in ("%x", "qx")}, key=len, reverse=True)

    def _calls(self) -> Iterator[tuple[str, str, int]]:
        names = self._names()
        alternatives = "|".join(re.escape(n) for n in names)
        # The bare name only: a qualifier matched by the regex itself made long
        # a.b.c… chains quadratic. The qualifier is read backwards, bounded.
        rx = re.compile(rf"(?<![\w$@])({alternatives})\s*(\(|(?=[\s\"'$@\[]))")
        closing = self.closing or _bracket_map(self.code)
        for m in rx.finditer(self.code):
            start = m.end()
            qualified = (self._qualifier(m.start()) + m.group(1)).replace("::", ".").replace("->", ".")
            if m.group(2) == "(":
                end = closing.get(start - 1, -1)
                if end < 0:
                    continue
                yield qualified, self.code[start:end], m.start()
            elif self.lex.paren_optional:
                end = _statement_end(self.code, start)
                text = self.code[start:end].strip()
                if text and not text.startswith(("=", "{", ".", ",")) and not text.startswith("=>"):
                    yield qualified, text, m.start()

    def _qualifier(self, at: int) -> str:
        """``fs.`` / ``File::Path::`` / ``$obj->`` right before a call name (a few parts at most)."""
        code = self.code
        out = ""
        j = at
        for _ in range(4):
            sep = next((s for s in (".", "::", "->") if code[max(0, j - len(s)) : j] == s), "")
            if not sep:
                break
            k = j - len(sep)
            i = k
            while i > 0 and k - i < 64 and (code[i - 1].isalnum() or code[i - 1] in "_$"):
                i -= 1
            if i == k:
                break
            out = code[i:k] + sep + out
            j = i
        return out

    def _call(self, qualified: str, args_text: str, pos: int) -> None:
        lex = self.lex
        sink = self.sink
        if qualified in self.aliases:
            qualified = self.aliases[qualified]
        spread = re.fullmatch(r"\s*(?:@|\*|\.\.\.)(\w+)\s*", args_text)
        if spread and spread.group(1) in self.lists and any(
            qualified == n or qualified.endswith("." + n) for n in (*lex.shell, *lex.process)
        ):
            # system(@a) / system(*cmd): the list is the argument vector.
            sink.argv(qualified.rsplit(".", 1)[-1], self.lists[spread.group(1)])
            return
        name = next((n for n in self._names() if qualified == n or qualified.endswith("." + n)), "")
        if not name:
            return
        args = _split_top(args_text, ",")
        first = self._expr(args[0]) if args and args[0].strip() else None
        if name in lex.dynamic:
            if name == "eval" and args_text.lstrip().startswith("{"):
                return  # perl's eval BLOCK is try/catch, not code from a string
            if name in ("require",) and first is not None and not first.unknown:
                return
            if name == "send" and first is not None and not first.unknown and first.text.strip(":") not in (
                "system", "exec", "spawn", "eval", "`"):
                return
            if first is not None and not first.unknown and name == "eval":
                nested = _Scanner(lex, first.text)
                nested.values = dict(self.values)
                got = nested.read()
                self.reading.inners += got.inners
                self.reading.dynamic += got.dynamic
                return
            self.reading.dynamic.append(f"{qualified}(…)")
            return
        if first is None:
            return
        if name in lex.shell or name in lex.process:
            rest = [self._expr(a) for a in args[1:] if a.strip()]
            stripped = args[0].strip()
            if stripped.startswith(("[", "qw")):
                argv = self._list(stripped)
                sink.argv(name, argv)
            elif rest and name not in ("popen", "IO.popen", "io.popen", "exec", "execSync") or name in lex.process:
                listed = [a for a in rest if not a.unknown or a.text]
                options_list = args[1].strip() if len(args) > 1 else ""
                if name in lex.process and options_list.startswith("["):
                    sink.argv(name, [first, *self._list(options_list)])
                elif name in lex.process:
                    sink.argv(name, [first])
                else:
                    sink.argv(name, [first, *listed])
            else:
                sink.shell(name, first)
            return
        if name in lex.remove_tree:
            for a in args:
                if a.strip() and not a.strip().startswith("{"):
                    sink.command(name, _REMOVE_TREE, [self._expr(a)])
            return
        if name in lex.remove:
            recursive = bool(lex.recursive_flag) and re.search(rf"\b{lex.recursive_flag}\s*:\s*true", args_text)
            prefix = _REMOVE_TREE if recursive else (_RMDIR if "rmdir" in name else _REMOVE)
            for a in args if lex.lang in ("perl", "ruby") else args[:1]:
                if a.strip() and not a.strip().startswith("{"):
                    sink.command(name, prefix, [self._expr(a)])
            return
        if name in lex.write:
            append = "FILE_APPEND" in args_text or "'a'" in args_text or '"a"' in args_text
            if name.startswith("truncate"):
                sink.argv(name, [Word.of("truncate"), Word.of("-s"), Word.of("0"), first])
            else:
                sink.write(name, first, append=append)
            return
        if name in lex.open_write:
            self._open(name, args)
            return
        if name in lex.kill:
            words = [self._expr(a) for a in args]
            if lex.kill_sig_first and len(words) >= 2:
                for pid in words[1:]:
                    sink.kill(name, pid, words[0])
            elif words:
                sink.kill(name, words[0], words[1] if len(words) > 1 else None)
            return
        if name in ("rename", "move", "mv", "renameSync") and len(args) >= 2:
            sink.command(name, ("mv",), [first, self._expr(args[1])])
            return
        if name == "truncate" and len(args) >= 2:
            sink.argv(name, [Word.of("truncate"), Word.of("-s"), self._expr(args[1]), first])
            return
        if name == "chmod" and len(args) >= 2:
            if lex.lang in ("perl", "ruby"):
                mode, files = first, [self._expr(a) for a in args[1:]]
            else:
                mode, files = self._expr(args[1]), [first]
            for f in files:
                sink.argv(name, [Word.of("chmod"), Word.of(_octal(mode)), f])

    def _open(self, name: str, args: list[str]) -> None:
        if not args:
            return
        if self.lex.lang == "perl":
            if len(args) >= 3:
                mode, path = self._expr(args[1]), self._expr(args[2])
                if mode.text.strip() in ("|-", "-|"):
                    self.sink.shell("open pipe", path)
                elif ">" in mode.text or "+<" in mode.text:
                    self.sink.write("open", path, append=">>" in mode.text)
            elif len(args) == 2:
                spec = self._expr(args[1])
                text = spec.text.strip()
                if text.endswith("|") or text.startswith("|"):
                    self.sink.shell("open pipe", _lit(text.strip("|").strip()))
                elif text.startswith(">"):
                    self.sink.write("open", Word.of(text.lstrip(">").strip()), append=text.startswith(">>"))
            return
        path = self._expr(args[0])
        mode = self._expr(args[self.lex.mode_arg]) if len(args) > self.lex.mode_arg else Word.of("r")
        if mode.unknown or _WRITE_MODES.search(mode.text) or "WRONLY" in mode.text or "TRUNC" in mode.text:
            self.sink.write(name, path, append="a" in mode.text and "w" not in mode.text)

    def _awk_pipes(self) -> None:
        for m in re.finditer(r"(?:print|printf)\b[^|>;}]*\|\s*(\"(?:\\.|[^\"\\])*\"|\w+)", self.code):
            self.sink.shell("print |", self._term(m.group(1)))
        for m in re.finditer(r"(\"(?:\\.|[^\"\\])*\"|\w+)\s*\|\s*getline", self.code):
            self.sink.shell("| getline", self._term(m.group(1)))
        for m in re.finditer(r"(?:print|printf)\b[^|>;}]*?(>>?)\s*(\"(?:\\.|[^\"\\])*\"|\w+)", self.code):
            self.sink.write("print >", self._term(m.group(2)), append=m.group(1) == ">>")


def _balanced(text: str) -> bool:
    depth = 0
    for c in text:
        depth += c in "([{"
        depth -= c in ")]}"
        if depth < 0:
            return False
    return depth == 0


def _skip_string(text: str, i: int) -> int:
    quote = text[i]
    j = i + 1
    stop = min(len(text), i + _MAX_SPAN)
    while j < stop:
        if text[j] == "\\":
            j += 2
            continue
        if text[j] == quote:
            return j + 1
        j += 1
    return stop


_MAX_SPAN = 16 * 1024  # how far a call's arguments may reach: bounded, so scanning stays linear


def _bracket_map(text: str) -> dict[int, int]:
    """Every opening bracket's closing partner, in one pass (strings skipped)."""
    out: dict[int, int] = {}
    stack: list[int] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in "'\"`":
            i = _skip_string(text, i)
            continue
        if c in "([{":
            stack.append(i)
        elif c in ")]}" and stack:
            out[stack.pop()] = i
        i += 1
    return out


def _close(text: str, open_at: int) -> int:
    """Index of the bracket closing the one at ``open_at`` (strings skipped), or -1."""
    depth = 0
    i = open_at
    stop = min(len(text), open_at + _MAX_SPAN)
    while i < stop:
        c = text[i]
        if c in "'\"`":
            i = _skip_string(text, i)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _statement_end(text: str, start: int) -> int:
    i = start
    stop = min(len(text), start + _MAX_SPAN)
    while i < stop:
        c = text[i]
        if c in "'\"`":
            i = _skip_string(text, i)
            continue
        if c in "([{":
            end = _close(text, i)
            i = end + 1 if end > 0 else stop
            continue
        if c in ";\n}" or text.startswith(" or ", i) or text.startswith(" if ", i) or text.startswith(" unless ", i):
            return i
        if text.startswith("||", i) or text.startswith("&&", i):
            return i
        i += 1
    return i


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside strings and brackets."""
    parts: list[str] = []
    depth = 0
    i = 0
    last = 0
    n = len(sep)
    while i < len(text):
        c = text[i]
        if c in "'\"`":
            i = _skip_string(text, i)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            if sep == "." and (i + 1 < len(text) and text[i + 1].isdigit() or i and text[i - 1].isdigit()):
                i += 1
                continue
            parts.append(text[last:i])
            i += n
            last = i
            continue
        i += 1
    parts.append(text[last:])
    return parts

