"""Arithmetic of the burst phase (bench.py): the call budget's bucket, sliding windows, steady rate.

Pure functions on epoch-millisecond timestamps, so they can be checked on their own:
    python bench/burst_stats.py        # runs the self-checks
"""

from __future__ import annotations

import bisect
import math
import re


def parse_rate(text: str, name: str) -> tuple[int, int]:
    """`N/W` (calls per seconds), as `CLOUDFLARE_CALL_BUDGET` and the emulator's `--rate-limit` take it."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise ValueError(f"{name}={text!r}: expected CALLS/SECONDS, e.g. 100/10")
    return int(m.group(1)), int(m.group(2))


def bucket(calls: int, seconds: int) -> tuple[int, float]:
    """The token bucket of crates/vinofy-core/src/domain/budget.rs for `calls/seconds`: capacity C =
    min(N, max(2, floor(N/100))) and refill r = (N - C - M)/W tokens per second, M = 200 ms of calls
    (at least 1) kept for the lag between a slot and its call's arrival."""
    capacity = min(calls, max(2, calls // 100))
    lag_margin = max(1, math.ceil(calls / seconds * 0.2))
    return capacity, max(0, calls - capacity - lag_margin) / seconds


def max_in_window(times_ms: list[int], window_ms: int) -> tuple[int, int | None]:
    """The most timestamps in any half-open window [t, t + W) (a sliding window, as the emulator's
    limiter keeps one), and where the first such window starts. Windows starting at a timestamp
    suffice: any window can slide right to its first member without losing one."""
    ts = sorted(times_ms)
    best, start = 0, None
    for i, t in enumerate(ts):
        n = bisect.bisect_left(ts, t + window_ms, lo=i) - i
        if n > best:
            best, start = n, t
    return best, start


def count_between(times_ms: list[int], start_ms: float, end_ms: float) -> int:
    """Timestamps in [start, end)."""
    ts = sorted(times_ms)
    return bisect.bisect_left(ts, end_ms) - bisect.bisect_left(ts, start_ms)


def per_second(times_ms: list[int], start_ms: float, end_ms: float) -> list[int]:
    """Counts per whole second from `start_ms` (the last bucket may be partial)."""
    out: list[int] = []
    t = start_ms
    while t < end_ms:
        out.append(count_between(times_ms, t, min(t + 1000, end_ms)))
        t += 1000
    return out


def _self_check() -> None:
    assert parse_rate("100/10", "x") == (100, 10)
    for bad in ("", "100", "0/10", "10/0", "a/b", "-1/10"):
        try:
            parse_rate(bad, "x")
        except ValueError:
            continue
        raise AssertionError(bad)
    assert bucket(1000, 300) == (10, 989 / 300)
    assert bucket(100, 10) == (2, 9.6)
    assert bucket(1, 1) == (1, 0.0)
    assert bucket(50, 10) == (2, 4.7)
    assert max_in_window([0, 500, 999, 1000, 1999], 1000) == (3, 0)
    assert max_in_window([0, 1000, 2000], 1000) == (1, 0)
    assert max_in_window([], 1000) == (0, None)
    assert count_between([0, 1, 2, 3], 1, 3) == 2
    assert per_second([0, 10, 1000, 2500], 0, 2600) == [2, 1, 1]
    print("burst_stats: ok")


if __name__ == "__main__":
    _self_check()
