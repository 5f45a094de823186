"""Generate ``agent_core/_libc_ffi.py``: cffi's out-of-line ABI module for the libc calls
the agent makes (``prctl``, and ``malloc_trim`` once start-up is over).

An in-line ``cffi.FFI().cdef(...)`` parses C declarations with pycparser at every
start (14 modules, ~1.4 MB resident in the idle agent); the out-of-line module holds
the parsed declarations and needs only ``_cffi_backend``, which PyNaCl loads anyway.

    .venv/bin/python contrib/codegen/libc_ffi.py     # rewrite agent_core/_libc_ffi.py

``tests/agent/test_libc.py`` fails when the committed file differs from what this makes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cffi

CDEF = """
int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5);
int malloc_trim(size_t pad);
"""
TARGET = Path(__file__).resolve().parents[2] / "agent_core" / "_libc_ffi.py"


def generate(path: Path) -> None:
    ffibuilder = cffi.FFI()
    ffibuilder.set_source("agent_core._libc_ffi", None)
    ffibuilder.cdef(CDEF)
    ffibuilder.emit_python_code(str(path))


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else TARGET)
