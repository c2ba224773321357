"""Run work in this process with a small thread pool (FFmpeg and I/O release the GIL)."""

from __future__ import annotations

import os
from collections import Counter
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
        self._pool: ThreadPoolExecutor | None = None
        self.in_flight = self.workers * 2

    def submit(self, fn: Callable[[T], R], item: T, resources: Resources = Resources()) -> Future[R]:
        """Start fn(item) in the pool; returns a handle for `wait` and `result`."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers)
        return self._pool.submit(fn, item)

    def submit_chain(self, links: list[tuple[Callable[[Any], Any], Resources]], item: Any) -> Future[Any]:
        """Run a chain of functions, each on the previous one's result, as one pool task."""
        def chain(value: Any) -> Any:
            for fn, _ in links:
                value = fn(value)
            return value

        return self.submit(chain, item)

    @staticmethod
    def wait(handles: Iterable[Future[Any]]) -> list[Future[Any]]:
        """Block until at least one of `handles` is done; return the done ones."""
        return list(wait(list(handles), return_when=FIRST_COMPLETED).done)

    @staticmethod
    def result(handle: Future[R]) -> R:
        return handle.result()

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

    def tasks(self, fn: Callable[[T], R], resources: Resources = Resources()) -> LocalTasks:
        """fn(item) in threads of this process (as many as `resources.cpus`)."""
        return LocalTasks(fn, max(1, int(resources.cpus)))

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
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def describe(self) -> str:
        return f"local ({self.workers} threads)"


class LocalTasks:
    """fn(item) in `threads` threads of this process; the same interface as longvid.run.ray.RayTasks
    (`nodes` counts results under "local")."""

    def __init__(self, fn: Callable[[T], R], threads: int = 1):
        self.fn = fn
        self.nodes: Counter[str] = Counter()
        self._pool = ThreadPoolExecutor(max(1, threads))

    def submit(self, item: T) -> Future[R]:
        return self._pool.submit(self.fn, item)

    def result(self, handle: Future[R]) -> R:
        value = handle.result()
        self.nodes["local"] += 1
        return value

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
