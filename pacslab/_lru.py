"""A thread-safe cache of values up to a budget of bytes, the least recently used dropped first."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["ByteBudgetCache"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ByteBudgetCache(Generic[K, V]):
    """Values (arrays, bytes: anything with the buffer protocol) kept while their bytes fit *max_bytes*.

    The least recently used go first; the last one put is kept whatever its size, so a caller
    reading one large value piece by piece does not read it again for each piece.

    Parameters
    ----------
    max_bytes : int
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._values: OrderedDict[K, V] = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value kept under *key*, now the most recently used; None when it is not (or no longer) kept."""
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Keep *value* under *key* (unless a value is kept there already), dropping others beyond the budget."""
        with self._lock:
            if key not in self._values:
                self._values[key] = value
                self._nbytes += memoryview(value).nbytes  # type: ignore[arg-type]
            while self._nbytes > self.max_bytes and len(self._values) > 1:
                _, dropped = self._values.popitem(last=False)
                self._nbytes -= memoryview(dropped).nbytes  # type: ignore[arg-type]

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._values

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)
