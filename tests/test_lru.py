"""The byte-budget cache behind the archive's chunk cache and the viewer's slice blocks."""

from __future__ import annotations

import numpy as np

from pacslab._lru import ByteBudgetCache


def test_the_least_recently_used_go_first_once_over_the_budget() -> None:
    cache: ByteBudgetCache[str, object] = ByteBudgetCache(250)
    cache.put("a", b"x" * 100)
    cache.put("b", np.zeros(100, np.uint8))
    assert cache.get("a") is not None  # "a" is now the most recently used
    cache.put("c", b"z" * 100)  # 300 bytes: the least recently used ("b") goes
    assert "b" not in cache and "a" in cache and "c" in cache and len(cache) == 2


def test_the_last_value_put_is_kept_whatever_its_size() -> None:
    cache: ByteBudgetCache[str, bytes] = ByteBudgetCache(10)
    cache.put("small", b"s")
    cache.put("large", b"l" * 1000)
    assert cache.get("large") == b"l" * 1000 and "small" not in cache


def test_a_value_already_kept_is_not_replaced_nor_counted_twice() -> None:
    cache: ByteBudgetCache[str, bytes] = ByteBudgetCache(150)
    cache.put("a", b"1" * 100)
    cache.put("a", b"2" * 100)  # another thread read it meanwhile
    cache.put("b", b"3" * 40)  # 140 bytes: both fit
    assert cache.get("a") == b"1" * 100 and cache.get("b") == b"3" * 40
