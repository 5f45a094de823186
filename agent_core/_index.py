"""The agent's entry-point index: see :mod:`transports.entrypoints` (it lives in the wire
package so the carriers read it too, and so the declaring child imports nothing heavy)."""

from transports.entrypoints import GROUPS, EntryRef, entries, fingerprint_of, forget, install, scan

__all__ = ["GROUPS", "EntryRef", "entries", "fingerprint_of", "forget", "install", "scan"]
