"""Re-initialising objects in a forked child process."""

from __future__ import annotations

import os
import weakref
from typing import Any, Callable


def reinit_in_child(method: Callable[[], Any]) -> None:
    """Call a bound ``method`` in every forked child, for as long as its object lives.

    Threads do not survive a fork, and locks they held stay held in the child: objects with
    threads or locks re-make them here. Held weakly, so the object can still be collected.
    """
    if not hasattr(os, "register_at_fork"):  # no fork on this platform
        return
    ref = weakref.WeakMethod(method)

    def after_in_child() -> None:
        bound = ref()
        if bound is not None:
            bound()

    os.register_at_fork(after_in_child=after_in_child)
