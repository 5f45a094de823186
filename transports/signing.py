"""Task, hello and result signatures (Ed25519, a Merkle proof per task): the public face.

The implementation and its design notes are in ``transports/_signing.py``, whose
``__all__`` is this module's; the center, the proxy and the agent import these
names from here. Kept out of ``import transports`` so that loading the wire
types does not load PyNaCl.
"""

from ._signing import *  # noqa: F403  (re-exported: exactly _signing.__all__)
from ._signing import __all__ as __all__
