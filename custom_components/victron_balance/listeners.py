"""Who is told when a runner moved on (its entities, mostly)."""

from __future__ import annotations

from collections.abc import Callable


class Listeners[**P]:
    """Callbacks told in the order they were added; each add returns its removal."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[P, None]] = []

    def add(self, callback: Callable[P, None]) -> Callable[[], None]:
        """Tell `callback` from now on; call the result to stop."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    def notify(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Tell everyone (a callback may remove itself meanwhile)."""
        for callback in list(self._callbacks):
            callback(*args, **kwargs)
