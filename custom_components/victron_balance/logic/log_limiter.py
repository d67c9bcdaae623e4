"""Rate-limited logging for bad input, so a misbehaving device cannot flood the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLogger:
    """Logs a problem at most once per `interval` seconds per category; counts the rest."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warning(self, category: str, message: str) -> bool:
        """Log `message` unless this category was logged recently; True if logged."""
        now = self._clock()
        last = self._last.get(category)
        if last is not None and now - last < self._interval:
            self._suppressed[category] = self._suppressed.get(category, 0) + 1
            return False
        suppressed = self._suppressed.pop(category, 0)
        self._last[category] = now
        if suppressed:
            message = f"{message} ({suppressed} similar messages suppressed)"
        self._logger.warning("%s", message)
        return True
