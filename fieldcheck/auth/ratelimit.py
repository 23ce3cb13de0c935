"""Fixed-window counters for login attempts: in Redis when configured, else in this process."""

from __future__ import annotations

import threading
import time
from typing import Protocol

import redis


class RateLimiter(Protocol):
    def hit(self, key: str, *, limit: int, window_s: int) -> int:
        """Count one attempt; return 0 when allowed, else the seconds until it is allowed."""
        ...

    def peek(self, key: str, *, limit: int, window_s: int) -> int:
        """Like `hit` without counting."""
        ...

    def reset(self, key: str) -> None: ...


class MemoryRateLimiter:
    """For one process (demo, dev); several app processes must share a RedisRateLimiter."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[float, int]] = {}

    def _current(self, key: str, window_s: int) -> tuple[float, int]:
        start, count = self._windows.get(key, (0.0, 0))
        now = time.monotonic()
        if now - start >= window_s:
            return now, 0
        return start, count

    def hit(self, key: str, *, limit: int, window_s: int) -> int:
        with self._lock:
            start, count = self._current(key, window_s)
            count += 1
            self._windows[key] = (start, count)
            return self._retry_after(start, count, limit, window_s)

    def peek(self, key: str, *, limit: int, window_s: int) -> int:
        with self._lock:
            start, count = self._current(key, window_s)
            return self._retry_after(start, count + 1, limit, window_s)

    def reset(self, key: str) -> None:
        with self._lock:
            self._windows.pop(key, None)

    @staticmethod
    def _retry_after(start: float, count: int, limit: int, window_s: int) -> int:
        if count <= limit:
            return 0
        return max(1, int(start + window_s - time.monotonic() + 0.999))


class RedisRateLimiter:
    """Counters shared by every app process behind the load balancer."""

    def __init__(self, client: redis.Redis, prefix: str = "fieldcheck:rl:") -> None:
        self._redis = client
        self._prefix = prefix

    def hit(self, key: str, *, limit: int, window_s: int) -> int:
        name = self._prefix + key
        pipe = self._redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, window_s, nx=True)
        pipe.ttl(name)
        count, _, ttl = pipe.execute()
        return 0 if count <= limit else max(1, int(ttl))

    def peek(self, key: str, *, limit: int, window_s: int) -> int:
        name = self._prefix + key
        pipe = self._redis.pipeline()
        pipe.get(name)
        pipe.ttl(name)
        count, ttl = pipe.execute()
        if count is None or int(count) + 1 <= limit:
            return 0
        return max(1, int(ttl))

    def reset(self, key: str) -> None:
        self._redis.delete(self._prefix + key)


def make_rate_limiter(redis_url: str | None, prefix: str = "fieldcheck:rl:") -> RateLimiter:
    if redis_url:
        return RedisRateLimiter(redis.Redis.from_url(redis_url, socket_timeout=2), prefix)
    return MemoryRateLimiter()
