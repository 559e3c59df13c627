"""Which of several DNS servers the crawler asks first, and when a silent one stops being first.

dnspython starts every resolution at the first server of its list, so while that server is down
every question of a sweep waits one full timeout before the next server is asked.  :class:`ServerOrder` keeps the order the user gave and moves the start
past a server that has left ``silences_to_move`` questions in a row unanswered, for ``hold``
seconds; then the configured order is tried again, so a server that came back is used again.
Any answer from the server asked first resets its count.  Nothing here asks anything: the
resolver (:mod:`crawler.resolve`) reports what it saw.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger(__name__)

__all__ = ["ServerOrder"]

SILENCES_TO_MOVE = 3
HOLD_SECONDS = 60.0


class ServerOrder:
    """The index of the server to ask first among ``servers`` (their ``HOST:PORT`` texts, for the
    log), moved on past one that stays silent.  Safe to share between threads."""

    def __init__(self, servers: list[str], *, silences_to_move: int = SILENCES_TO_MOVE,
                 hold: float = HOLD_SECONDS) -> None:
        if silences_to_move < 1 or hold <= 0:
            raise ValueError("silences_to_move must be at least 1 and hold positive")
        self.servers = list(servers)
        self.silences_to_move = silences_to_move
        self.hold = hold
        self._first = 0
        self._until = 0.0
        self._silences = 0
        self._lock = threading.Lock()

    @property
    def first(self) -> int:
        """The index of the server to ask first now."""
        with self._lock:
            if self._first and time.monotonic() >= self._until:
                self._first, self._silences = 0, 0  # the hold is over: the configured order again
            return self._first

    def answered(self, index: int) -> None:
        """Server ``index`` answered a question (whatever the answer said)."""
        with self._lock:
            if index == self._first:
                self._silences = 0

    def silent(self, index: int) -> None:
        """Server ``index`` left a question unanswered within its timeout."""
        with self._lock:
            if index != self._first or len(self.servers) < 2:
                return
            self._silences += 1
            if self._silences < self.silences_to_move:
                return
            self._first = (index + 1) % len(self.servers)
            self._until = time.monotonic() + self.hold
            self._silences = 0
            moved_to = self.servers[self._first]
        logger.warning("DNS server %s left %d questions in a row unanswered; asking %s first for %.0f s",
                       self.servers[index], self.silences_to_move, moved_to, self.hold)
