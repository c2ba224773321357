"""Will an actor pool fit the cluster? Checked before any actor starts, so a request no node can
host is one clear line instead of a pool that waits forever (Ray only logs "infeasible").

Pure functions over the nodes' total resources (`longvid.run.ray.RayRunner.nodes()` reads them).
Actors are placed one by one on the node with the most room left (the total left does not depend on
where Ray puts them); what remains is what decode tasks (one CPU each) can use.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from longvid.errors import UserError
from longvid.run.resources import Resources


class Infeasible(UserError):
    """No placement of the asked actors (or decode tasks) exists on this cluster."""


@dataclass(frozen=True)
class Node:
    """A node's total resources (what Ray calls its "Resources")."""

    node_id: str
    cpus: float
    gpus: float = 0.0
    memory_mb: int = 0
    custom: tuple[tuple[str, float], ...] = ()  # Ray custom resources (e.g. ("nvdec", 1.0))

    def fits(self, ask: Resources) -> bool:
        have = dict(self.custom)
        return (ask.cpus <= self.cpus + 1e-9 and ask.gpus <= self.gpus + 1e-9
                and (not ask.memory_mb or ask.memory_mb <= self.memory_mb)
                and all(amount <= have.get(name, 0.0) + 1e-9 for name, amount in ask.custom))

    def minus(self, ask: Resources) -> Node:
        have = dict(self.custom)
        for name, amount in ask.custom:
            have[name] = have.get(name, 0.0) - amount
        return replace(self, cpus=self.cpus - ask.cpus, gpus=self.gpus - ask.gpus,
                       memory_mb=self.memory_mb - ask.memory_mb, custom=tuple(sorted(have.items())))


def _amount(value: float, unit: str) -> str:
    number = f"{value:g}"
    return f"{number} {unit}" if value == 1 else f"{number} {unit}s"


def describe(cpus: float, gpus: float, memory_mb: int = 0, custom: tuple[tuple[str, float], ...] = ()) -> str:
    """`2 CPUs, 1 GPU` (and memory and custom resources when set)."""
    parts = [_amount(cpus, "CPU"), _amount(gpus, "GPU")]
    if memory_mb:
        parts.append(f"{memory_mb} MiB")
    return ", ".join(parts + [f"{amount:g} {name}" for name, amount in custom])


def place_actors(nodes: list[Node], ask: Resources, count: int, what: str) -> list[Node]:
    """Place `count` actors asking `ask` each, spread; returns the nodes with what is left.
    Raises Infeasible naming the ask and the largest node when not all of them fit."""
    if not nodes:
        raise Infeasible(f"the Ray cluster has no live node to host a {what}")
    largest = max(nodes, key=lambda n: (n.gpus, n.cpus, n.memory_mb))
    asked = describe(ask.cpus, ask.gpus, ask.memory_mb, ask.custom)
    if not any(n.fits(ask) for n in nodes):
        raise Infeasible(f"no node of the Ray cluster can host a {what}: each asks {asked}; the largest node has "
                         f"{describe(largest.cpus, largest.gpus, largest.memory_mb if ask.memory_mb else 0, tuple((n, a) for n, a in largest.custom if n in dict(ask.custom)))} "
                         f"({len(nodes)} node(s))")
    left = list(nodes)
    for placed in range(count):
        room = [i for i, n in enumerate(left) if n.fits(ask)]
        if not room:
            raise Infeasible(f"the Ray cluster can host only {placed} of the {count} {what}s: each asks {asked}; "
                             f"its {len(nodes)} node(s) have {describe(sum(n.cpus for n in nodes), sum(n.gpus for n in nodes))}"
                             " in all")
        best = max(room, key=lambda i: (left[i].cpus - ask.cpus, left[i].gpus - ask.gpus))
        left[best] = left[best].minus(ask)
    return left


def free_cpus(nodes: list[Node]) -> int:
    """Whole CPUs left on the nodes: how many one-CPU decode tasks can run at once."""
    return sum(int(n.cpus + 1e-9) for n in nodes)
