"""Run work as Ray tasks: a local Ray by default, a cluster with `address` (or RAY_ADDRESS).

The only module that imports `ray`. Work is submitted with back-pressure (a bounded number of
tasks in flight, so the driver's memory stays flat however many videos there are) and results
are yielded as they finish. Ray-side failures (a lost worker, a node gone) are retried by Ray;
application errors are not raised by the stage functions, they come back as error rows.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator, TypeVar

from longvid.run.resources import Resources

T = TypeVar("T")
R = TypeVar("R")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:  # pragma: no cover - a declared dependency of the build extra
        raise RuntimeError("Ray is not installed: pip install 'longvid[build]'") from e
    return ray


class RayRunner:
    """Map functions over items with Ray tasks."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, max_retries: int = 2):
        ray = _import_ray()
        self._ray = ray
        address = address or os.environ.get("RAY_ADDRESS") or None
        self._owns_cluster = not ray.is_initialized() and address is None
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"address": address, "include_dashboard": False,
                                      "log_to_driver": False, "configure_logging": False}
            if address is None:
                kwargs["num_cpus"] = workers or os.cpu_count() or 1
            ray.init(**kwargs)
        self.max_retries = max_retries
        self.in_flight = max(2, int(ray.cluster_resources().get("CPU", 1)) * 2)

    def map(self, fn: Callable[[T], R], items: Iterable[T], resources: Resources = Resources()) -> Iterator[tuple[T, R]]:
        """Yield (item, fn(item)) as each task finishes; at most `in_flight` tasks at once."""
        ray = self._ray
        def call(item: T) -> R:  # a plain function (ray.remote refuses partials), pickled with fn
            return fn(item)

        remote = ray.remote(max_retries=self.max_retries, retry_exceptions=False, **resources.ray_options())(call)
        pending: dict[Any, T] = {}
        for item in items:
            if len(pending) >= self.in_flight:
                yield from self._collect(pending, wait_for=1)
            pending[remote.remote(item)] = item
        while pending:
            yield from self._collect(pending, wait_for=1)

    def map_actors(self, make: Callable[[], Any], call: Callable[[Any, T], R], items: Iterable[T], actors: int,
                   resources: Resources = Resources()) -> Iterator[tuple[T, R]]:
        """A pool of `actors` long-lived workers, each built once by `make()` (e.g. one encoder per
        GPU, with `resources` per actor); yields (item, call(worker, item)) as each finishes."""
        ray = self._ray

        class Worker:
            def __init__(self) -> None:
                self.state = make()

            def run(self, item: T) -> R:
                return call(self.state, item)

        actor_cls = ray.remote(max_restarts=self.max_retries, **resources.ray_options())(Worker)
        pool = [actor_cls.remote() for _ in range(max(1, actors))]
        free, pending = list(pool), {}
        try:
            for item in items:
                if not free:
                    yield from self._release(pending, free)
                worker = free.pop()
                pending[worker.run.remote(item)] = (item, worker)
            while pending:
                yield from self._release(pending, free)
        finally:
            for actor in pool:
                ray.kill(actor)

    def _release(self, pending: dict[Any, Any], free: list[Any]) -> Iterator[tuple[Any, Any]]:
        done, _ = self._ray.wait(list(pending), num_returns=1)
        for ref in done:
            item, worker = pending.pop(ref)
            free.append(worker)
            yield item, self._ray.get(ref)

    def _collect(self, pending: dict[Any, Any], wait_for: int) -> Iterator[tuple[Any, Any]]:
        done, _ = self._ray.wait(list(pending), num_returns=wait_for)
        for ref in done:
            yield pending.pop(ref), self._ray.get(ref)

    def close(self) -> None:
        if self._owns_cluster and self._ray.is_initialized():
            self._ray.shutdown()

    def describe(self) -> str:
        cpus = self._ray.cluster_resources().get("CPU", 0)
        return f"ray ({int(cpus)} CPUs, {len(self._ray.nodes())} node(s))"
