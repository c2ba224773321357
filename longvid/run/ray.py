"""Run work as Ray tasks: a private local Ray by default, a cluster with `address` (or RAY_ADDRESS).

The only module that imports `ray`. Work is submitted with back-pressure (a bounded number of
tasks in flight, so the driver's memory stays flat however many videos there are) and results
are yielded as they finish. Ray-side failures (a lost worker, a node gone) are retried by Ray;
application errors are not raised by the stage functions, they come back as error rows.

Without an address longvid starts a Ray of its own (`address="local"`, in a private temporary
folder), whatever other Ray runs on the machine and whatever files an earlier one left in
/tmp/ray: Ray's own default would join the cluster named in /tmp/ray/ray_current_cluster, even a
dead one. A watchdog process (longvid.run.watchdog) takes that Ray down when the driver dies,
SIGKILL included. `address="auto"` joins the cluster running on this machine and `HOST:PORT` a
remote one, with the resources the cluster has; an address that does not answer is one clear
error within seconds, not a hang.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

from longvid.errors import UserError
from longvid.run.placement import Node
from longvid.run.resources import Resources

T = TypeVar("T")
R = TypeVar("R")


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:  # pragma: no cover - a declared dependency of the build extra
        raise RuntimeError("Ray is not installed: pip install 'longvid[build]'") from e
    return ray


CONNECT_TIMEOUT = 5.0  # seconds to wait for a cluster's address to answer


class ClusterUnreachable(UserError, ConnectionError):
    """The Ray cluster named by --address cannot be found or does not answer."""


def _resolve(address: str) -> str:
    """`host:port` of the cluster that `address` names; "auto" is the one `ray start` runs on this
    machine (the address it wrote in Ray's temp folder), never another process's private Ray
    (Ray's own "auto" would fall back to any GCS it finds running)."""
    if address != "auto":
        if address == "local":
            raise ClusterUnreachable("--address local does not name a cluster (leave --address out for a local Ray)")
        return address
    from ray._private.utils import get_ray_address_file, read_ray_address

    found = read_ray_address(None)
    if not found:
        raise ClusterUnreachable(f"--address auto: no `ray start` cluster on this machine ({get_ray_address_file(None)} "
                                 "is absent); start one or give --address HOST:PORT")
    return found


def _check_reachable(address: str, named: str) -> None:
    """A TCP connection to the cluster's GCS (or Ray Client) port within CONNECT_TIMEOUT."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT):
            pass
    except (OSError, ValueError) as e:
        via = f" (--address {named} resolved to it)" if named != address else ""
        raise ClusterUnreachable(f"cannot reach the Ray cluster at {address}{via}: {e}") from None


def join_cluster(ray: Any, address: str) -> None:
    """ray.init on an existing cluster, after checking that it answers."""
    resolved = _resolve(address)
    _check_reachable(resolved, address)
    ray.init(address=resolved, log_to_driver=False, configure_logging=False)


class PrivateRay:
    """A local Ray owned by this driver, in a temporary folder of its own, with its watchdog."""

    def __init__(self, ray: Any, temp_dir: Path, watchdog: subprocess.Popen | None):
        self._ray, self.temp_dir, self._watchdog = ray, temp_dir, watchdog

    @classmethod
    def start(cls, ray: Any, cpus: int) -> PrivateRay:
        temp_dir = Path(tempfile.mkdtemp(prefix=f"lvray{os.getpid()}-", dir="/tmp"))  # short: socket paths
        watchdog = None
        if sys.platform.startswith("linux"):
            watchdog = subprocess.Popen([sys.executable, "-m", "longvid.run.watchdog", str(os.getpid()), str(temp_dir)],
                                        stdin=subprocess.PIPE, start_new_session=True)
        private = cls(ray, temp_dir, watchdog)
        try:
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, _temp_dir=str(temp_dir))
        except BaseException:
            private.stop()
            raise
        private._tell("roots " + " ".join(str(p.process.pid) for ps in _node(ray).all_processes.values() for p in ps))
        return private

    def _tell(self, line: str) -> None:
        if self._watchdog is not None and self._watchdog.stdin is not None:
            self._watchdog.stdin.write(line.encode() + b"\n")
            self._watchdog.stdin.flush()

    def stop(self) -> None:
        """Shut the Ray down without its graceful waits (what it leaves, the watchdog kills),
        then let the watchdog remove its folder and exit."""
        if self._ray.is_initialized():
            node = _node(self._ray)
            if node is not None:  # its processes are ours alone: no need to wait for each to exit
                kill = node.kill_all_processes
                node.kill_all_processes = lambda **kw: kill(**{**kw, "allow_graceful": False})
            self._ray.shutdown()
        if self._watchdog is not None:
            try:
                self._watchdog.communicate(b"exit\n", timeout=30)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                self._watchdog.kill()
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _run_on_node(fn: Callable[[T], R], item: T) -> tuple[str, R]:
    """A task's body: (the node it ran on, fn(item))."""
    return _import_ray().get_runtime_context().get_node_id(), fn(item)


class RayTasks:
    """fn(item) as Ray tasks asking `resources` each, spread over the nodes; picklable, so a worker
    (an actor) can submit them itself. `nodes` counts the results taken back by the node that made
    them."""

    def __init__(self, fn: Callable[[T], R], resources: Resources, max_retries: int = 2):
        self.fn, self.resources, self.max_retries = fn, resources, max_retries
        self.nodes: Counter[str] = Counter()
        self._remote: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_remote": None, "nodes": Counter()}

    def submit(self, item: T) -> Any:
        if self._remote is None:
            self._remote = _import_ray().remote(max_retries=self.max_retries, retry_exceptions=False,
                                                scheduling_strategy="SPREAD", **self.resources.ray_options())(_run_on_node)
        return self._remote.remote(self.fn, item)

    def result(self, handle: Any) -> Any:
        node, value = _import_ray().get(handle)
        self.nodes[node] += 1
        return value

    def close(self) -> None:
        pass


def _node(ray: Any) -> Any:
    """The local node object ray.init started (Ray's own, private, pinned with ray==2.58.0)."""
    return ray._private.worker._global_node


class RayRunner:
    """Map functions over items with Ray tasks."""

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, max_retries: int = 2):
        ray = _import_ray()
        self._ray = ray
        self._private: PrivateRay | None = None
        if not ray.is_initialized():
            address = address or os.environ.get("RAY_ADDRESS") or None
            if address is None:
                self._private = PrivateRay.start(ray, workers or os.cpu_count() or 1)
            else:
                join_cluster(ray, address)
        self.max_retries = max_retries
        self.in_flight = max(2, int(ray.cluster_resources().get("CPU", 1)) * 2)
        self._remotes: dict[tuple[int, Resources], tuple[Callable[..., Any], Any]] = {}

    def submit(self, fn: Callable[[T], R], item: T, resources: Resources = Resources()) -> Any:
        """Start fn(item) as a Ray task with `resources`; returns its ObjectRef."""
        return self._remote(fn, resources).remote(item)

    def submit_chain(self, links: list[tuple[Callable[[Any], Any], Resources]], item: Any) -> Any:
        """Start a chain of tasks, each link's function on the previous one's result and with its own
        resources (Ray passes the result along); returns the last task's ObjectRef."""
        handle = item
        for fn, resources in links:
            handle = self._remote(fn, resources).remote(handle)
        return handle

    def task_options(self, resources: Resources) -> dict[str, Any]:
        """The options a task with `resources` is submitted with."""
        return {"max_retries": self.max_retries, "retry_exceptions": False, **resources.ray_options()}

    def _remote(self, fn: Callable[[T], R], resources: Resources) -> Any:
        key = (id(fn), resources)
        if key not in self._remotes:  # one remote function per (fn, resources): fn is exported once
            def call(arg: T) -> R:
                return fn(arg)

            self._remotes[key] = (fn, self._ray.remote(**self.task_options(resources))(call))
        return self._remotes[key][1]

    def wait(self, handles: Iterable[Any]) -> list[Any]:
        """Block until at least one of `handles` is done; return the done ones."""
        done, _ = self._ray.wait(list(handles), num_returns=1)
        return done

    def result(self, handle: Any) -> Any:
        return self._ray.get(handle)

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

    def nodes(self) -> list[Node]:
        """The live nodes of the cluster and their total resources."""
        standard = {"CPU", "GPU", "memory", "object_store_memory"}
        return [Node(n["NodeID"], float(n["Resources"].get("CPU", 0)), float(n["Resources"].get("GPU", 0)),
                     int(n["Resources"].get("memory", 0) // 2**20),
                     tuple(sorted((k, float(v)) for k, v in n["Resources"].items()
                                  if k not in standard and not k.startswith("node:"))))
                for n in self._ray.nodes() if n.get("Alive")]

    def tasks(self, fn: Callable[[T], R], resources: Resources = Resources()) -> RayTasks:
        """A handle that runs fn(item) as Ray tasks from any process of the cluster (see RayTasks)."""
        return RayTasks(fn, resources, self.max_retries)

    def map_actors(self, make: Callable[[], Any], call: Callable[[Any, T], R], items: Iterable[T], actors: int,
                   resources: Resources = Resources()) -> Iterator[tuple[T, R]]:
        """A pool of `actors` long-lived workers, each built once by `make()` (e.g. one encoder per
        GPU, with `resources` per actor, spread over the nodes); yields (item, call(worker, item))
        as each finishes."""
        ray = self._ray

        class Worker:
            def __init__(self) -> None:
                self.state = make()

            def run(self, item: T) -> R:
                return call(self.state, item)

        actor_cls = ray.remote(max_restarts=self.max_retries, scheduling_strategy="SPREAD",
                               **resources.ray_options())(Worker)
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
        if self._private is not None:
            self._private.stop()
            self._private = None

    def describe(self) -> str:
        cpus, nodes = int(self._ray.cluster_resources().get("CPU", 0)), len(self._ray.nodes())
        if self._private is not None:
            return f"a private local Ray ({cpus} CPUs)"
        return f"the Ray at {self._ray.get_runtime_context().gcs_address} ({cpus} CPUs, {nodes} node(s))"
