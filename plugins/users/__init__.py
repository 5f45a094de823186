"""The user plugins (``user.*``), and the accounts capability other folders build on
(``state.user.present``): the account database, shadow-utils or busybox behind one
``Backend``, and the plans that bring an account to a wanted state."""

from typing import TYPE_CHECKING

__all__ = ["Backend", "User", "UserSpec", "choose", "find_user", "plan_absent", "plan_present", "run_plan"]

if TYPE_CHECKING:
    from ._accounts import User, find_user
    from ._backend import Backend, choose, run_plan
    from ._plan import UserSpec, plan_absent, plan_present
else:
    from plugins._lazy import attach

    __getattr__, __dir__ = attach(
        __name__,
        {
            "_accounts": ["User", "find_user"],
            "_backend": ["Backend", "choose", "run_plan"],
            "_plan": ["UserSpec", "plan_absent", "plan_present"],
        },
    )
