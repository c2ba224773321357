"""The build's streaming loop: videos in, shards out, while videos are still being processed.

Videos are submitted in catalog order (video_uid) as tasks, a bounded number at a time; their
results are taken back in that same order (a bounded reorder window), and their samples are
packed greedily into shards as they come. A shard is written as soon as it is full, as a task
of its own, while later videos are still being processed: staged samples and fetched media
are handed over and removed early, so the disk holds little more than the finished corpus.
The shards depend only on the sequence of results, never on which task finished first, so a
build killed at any moment and rerun plans exactly the same shards.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from longvid.build.shard_stage import ShardJob
from longvid.run.resources import Resources
from longvid.shards.plan import ShardPlanner, shard_name

VideoItem = tuple[dict[str, Any], list[dict[str, Any]]]


@dataclass
class Flow:
    """The two stages' functions, resources and the shard settings of one build."""

    runner: Any
    process: Callable[[VideoItem], tuple[dict[str, Any], bool]]  # -> (light result, resumed)
    write: Callable[[ShardJob], dict[str, Any]]
    video_resources: Resources
    write_resources: Resources
    make_job: Callable[[str, list[dict[str, Any]]], ShardJob]
    prefix: str
    planner: ShardPlanner
    window: int = 0  # results held back waiting for an earlier video (0: 4x the tasks in flight)
    jobs: list[str] = field(default_factory=list)

    def run(self, videos: Iterator[VideoItem], on_video: Callable[[dict[str, Any], bool], None],
            on_shard: Callable[[ShardJob, dict[str, Any]], None]) -> None:
        runner = self.runner
        tasks = max(2, runner.in_flight)
        window = self.window or 4 * tasks
        writes_max = max(1, tasks // 4)
        running: dict[Any, tuple[str, Any]] = {}  # handle -> ("video", index) | ("write", job)
        ready: dict[int, tuple[dict[str, Any], bool]] = {}
        queued: deque[ShardJob] = deque()
        submitted = taken = 0
        source: Iterator[VideoItem] | None = iter(videos)

        def take_in_order() -> None:
            nonlocal taken
            while taken in ready:
                result, resumed = ready.pop(taken)
                taken += 1
                on_video(result, resumed)
                for sample in result["samples"]:
                    full = self.planner.add(sample, sample["bytes"] + sample["json_bytes"])
                    if full:
                        queued.append(self._job(full))

        while True:
            n_videos = sum(1 for kind, _ in running.values() if kind == "video")
            n_writes = len(running) - n_videos
            while queued and n_writes < writes_max:
                job = queued.popleft()
                running[runner.submit(self.write, job, self.write_resources)] = ("write", job)
                n_writes += 1
            while source is not None and n_videos < tasks and submitted - taken < window and len(queued) < 2:
                item = next(source, None)
                if item is None:
                    source = None
                    break
                running[runner.submit(self.process, item, self.video_resources)] = ("video", submitted)
                submitted += 1
                n_videos += 1
            if source is None and taken == submitted:  # every video is in: the last shard
                last = self.planner.close()
                if last:
                    queued.append(self._job(last))
                if not queued and not running:
                    return
                if queued and n_writes < writes_max:
                    continue
            for handle in runner.wait(list(running)):
                kind, what = running.pop(handle)
                if kind == "video":
                    ready[what] = runner.result(handle)
                    take_in_order()
                else:
                    on_shard(what, runner.result(handle))

    def _job(self, samples: list[dict[str, Any]]) -> ShardJob:
        name = shard_name(self.prefix, len(self.jobs))
        self.jobs.append(name)
        return self.make_job(name, samples)
