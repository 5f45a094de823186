"""The state tests run in their own mount namespace with ``/etc`` a throwaway overlay.

``state.user.present`` creates and deletes real accounts; with
:func:`agent_core.testing.enter_private_etc` (entered as this file is imported,
while the test process has one thread) they land in the overlay, never in the
machine's own ``/etc``. Tests that change accounts take the ``private_etc``
fixture, which skips with the reason where the namespace cannot be made.
"""

from __future__ import annotations

from agent_core.testing import enter_private_etc

enter_private_etc()
