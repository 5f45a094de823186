"""A simulated fleet for load and chaos tests: N agent identities in one
process speaking the real protocol over the real carriers, with a trivial
in-process executor and a journal that counts every execution."""

from ._executor import interpret
from ._fleet import SimFleet
from ._journal import FleetJournal

__all__ = ["FleetJournal", "SimFleet", "interpret"]
