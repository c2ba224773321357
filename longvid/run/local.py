"""Run work in this process with a small thread pool (FFmpeg and I/O release the GIL)."""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Callable, Iterable, Iterator, TypeVar

from longvid.run.resources import Resources

T = TypeVar("T")
R = TypeVar("R")


class LocalRunner:
    """Same interface as RayRunner, without a cluster."""

    name = "local"

    def __init__(self, workers: int | None = None):
        self.workers = workers or max(1, min(4, os.cpu_count() or 1))

    def map(self, fn: Callable[[T], R], items: Iterable[T], resources: Resources = Resources()) -> Iterator[tuple[T, R]]:
        """Yield (item, fn(item)) as each finishes; at most `workers` in flight."""
        with ThreadPoolExecutor(self.workers) as pool:
            pending: dict[Future[R], T] = {}
            for item in items:
                if len(pending) >= self.workers * 2:
                    yield from self._drain(pending, wait(pending, return_when=FIRST_COMPLETED).done)
                pending[pool.submit(fn, item)] = item
            while pending:
                yield from self._drain(pending, wait(pending, return_when=FIRST_COMPLETED).done)

    def map_actors(self, make: Callable[[], Any], call: Callable[[Any, T], R], items: Iterable[T], actors: int = 1,
                   resources: Resources = Resources()) -> Iterator[tuple[T, R]]:
        """One worker built by `make()` in this process, called on each item in turn."""
        state = make()
        for item in items:
            yield item, call(state, item)

    @staticmethod
    def _drain(pending: dict[Future[Any], Any], done: set[Future[Any]]) -> Iterator[tuple[Any, Any]]:
        for future in sorted(done, key=id):
            yield pending.pop(future), future.result()

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"local ({self.workers} threads)"
