"""End-to-end authentication of terminal input (a session key sealed to the agent): the public face.

The implementation and its design notes are in ``transports/_streamauth.py``, whose
``__all__`` is this module's; the center and the agent import these names from here.
Kept out of ``import transports`` so that loading the wire types does not load PyNaCl.
"""

from ._streamauth import *  # noqa: F403  (re-exported: exactly _streamauth.__all__)
from ._streamauth import __all__ as __all__
