"""The build's streaming loop: videos in, shards out, while videos are still being processed.

Videos are submitted in catalog order (video_uid) as tasks, a bounded number at a time; their
results are taken back in that same order (a bounded reorder window), and their samples are
packed greedily into shards as they come. The open shard is written in parts while it fills: as
soon as a part's worth of samples is staged, a write task appends them (and hands their staged
files over), one task at a time per shard; the task that gets the shard's last samples finishes
it. So staged samples and fetched media are removed within seconds, and the disk holds little
more than the finished corpus. Shards depend only on the sequence of results, never on which
task finished first, so a build killed at any moment and rerun plans exactly the same shards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from longvid.pipeline.stages.write import ShardJob
from longvid.pipeline.video import VideoItem
from longvid.run.resources import Resources
from longvid.shards.plan import ShardPlanner, shard_name

PART_BYTES = 64 << 20  # write the open shard once this much more is staged
PART_SAMPLES = 64


@dataclass
class OpenShard:
    """A shard being filled: its samples so far, how many of them a write task has been given."""

    name: str
    samples: list[dict[str, Any]] = field(default_factory=list)
    given: int = 0
    given_bytes: int = 0
    closed: bool = False

    @property
    def bytes(self) -> int:
        return sum(s["bytes"] + s["json_bytes"] for s in self.samples)


@dataclass
class Flow:
    """The video chain's tasks, the write stage's function and resources, and the shard settings."""

    runner: Any
    video_links: list[tuple[Callable[[Any], Any], Resources]]  # item -> ... -> (light result, resumed)
    write: Callable[[ShardJob], dict[str, Any]]
    write_resources: Resources
    make_job: Callable[[str, list[dict[str, Any]], bool], ShardJob]
    prefix: str
    planner: ShardPlanner
    window: int = 0  # results held back waiting for an earlier video (0: 4x the tasks in flight)
    jobs: list[str] = field(default_factory=list)

    def run(self, videos: Iterator[VideoItem], on_video: Callable[[dict[str, Any], bool], list[dict[str, Any]]],
            on_write: Callable[[str, dict[str, Any]], None]) -> None:
        """Process every video and write every shard; `on_video` gets each result in video order
        and returns the samples to pack (those selected), `on_write` each write task's outcome
        (stats when it finished a shard)."""
        runner = self.runner
        tasks = max(2, runner.in_flight)
        window = self.window or 4 * tasks
        running: dict[Any, tuple[str, Any]] = {}  # handle -> ("video", index) | ("write", OpenShard)
        ready: dict[int, tuple[dict[str, Any], bool]] = {}
        shards: list[OpenShard] = []  # open or closed, not yet finished on disk
        submitted = taken = 0
        source: Iterator[VideoItem] | None = iter(videos)

        def add(sample: dict[str, Any]) -> None:
            if self.planner.add(sample, sample["bytes"] + sample["json_bytes"]) is not None or not shards or shards[-1].closed:
                if shards and not shards[-1].closed:
                    shards[-1].closed = True
                shards.append(OpenShard(shard_name(self.prefix, len(self.jobs))))
                self.jobs.append(shards[-1].name)
            shards[-1].samples.append(sample)

        def busy(shard: OpenShard) -> bool:
            return any(kind == "write" and what is shard for kind, what in running.values())

        while True:
            for shard in [s for s in shards if not busy(s)]:  # give each idle shard its next part
                fresh = shard.bytes - shard.given_bytes
                if shard.closed or fresh >= PART_BYTES or len(shard.samples) - shard.given >= PART_SAMPLES:
                    if shard.given < len(shard.samples) or shard.closed:
                        shard.given, shard.given_bytes = len(shard.samples), shard.bytes
                        job = self.make_job(shard.name, list(shard.samples), shard.closed)
                        running[runner.submit(self.write, job, self.write_resources)] = ("write", shard)
            n_videos = sum(1 for kind, _ in running.values() if kind == "video")
            staged = sum(len(s.samples) - s.given for s in shards)
            while source is not None and n_videos < tasks and submitted - taken < window and staged < 4 * PART_SAMPLES:
                item = next(source, None)
                if item is None:
                    source = None
                    break
                running[runner.submit_chain(self.video_links, item)] = ("video", submitted)
                submitted += 1
                n_videos += 1
            if source is None and taken == submitted and shards and not shards[-1].closed:
                shards[-1].closed = True  # every video is in: the last shard is complete
                continue
            if not running:
                return
            for handle in runner.wait(list(running)):
                kind, what = running.pop(handle)
                if kind == "video":
                    ready[what] = runner.result(handle)
                    while taken in ready:
                        result, resumed = ready.pop(taken)
                        taken += 1
                        for sample in on_video(result, resumed):
                            add(sample)
                    continue
                done = runner.result(handle)
                lost = {e["locator"] for e in done["errors"]}
                what.samples = [s for s in what.samples if s["key"] not in lost]  # gone for this build
                what.given = min(what.given, len(what.samples))
                on_write(what.name, done)
                if done["stats"] is not None and what.closed and what.given == len(what.samples):
                    shards.remove(what)
