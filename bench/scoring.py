"""Benchmark: scoring throughput (clips/s) with and without shared decoding, in one run.

Makes (once, under --work) --clips synthetic clips with FFmpeg (testsrc2 / mandelbrot / life
patterns, --seconds long, 640x360, 25 fps, H.264), then scores every clip with CLIP
similarity (longvid.enrich.clip_score, against one caption) and motion (longvid.enrich.motion),
two ways, --repeats times each, alternating:

  shared    one decode per clip (longvid.enrich.frames.SharedFrames): --frames anchors and the
            frame after each, which both scorers read;
  separate  each scorer decodes what it needs itself, as two stages without the cache would:
            CLIP --frames anchors, motion --frames anchors with their next frames.

It prints per way the median seconds over the repeats, clips/s, the decodes made, and the ratio
shared/separate of clips/s, plus the split of one shared pass (decode, CLIP, motion). With
--model ViT-B-32 (or another CLIP-BPE open_clip name) and no --weights, seeded random weights of
that architecture are written once to --work and loaded through the real local-weights path: the
real model's compute, meaningless scores. The device is CUDA when there is one (--device).

    .venv/bin/python bench/scoring.py                          # tiny CLIP, CPU
    .venv/bin/python bench/scoring.py --model ViT-B-32         # ViT-B/32 compute (GPU if present)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

PATTERNS = ("testsrc2", "mandelbrot", "life=s=640x360:mold=10:r=25:ratio=0.1:death_color=#C83232:life_color=#00ff00")


def make_clips(work: Path, n: int, seconds: float) -> list[Path]:
    from longvid.media.ffmpeg import run_ffmpeg

    folder = work / "clips"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"clip{i:03d}-{seconds:g}s.mp4"
        if not path.exists():
            pattern = PATTERNS[i % len(PATTERNS)]
            spec = pattern if "=" in pattern else f"{pattern}=size=640x360:rate=25"
            tmp = path.with_name(f".tmp.{path.name}")
            run_ffmpeg(["-f", "lavfi", "-i", spec, "-t", f"{seconds}", "-c:v", "libx264", "-g", "50",
                        "-pix_fmt", "yuv420p", "-an", str(tmp)], timeout=300)
            tmp.replace(path)
        out.append(path)
    return out


def weights_for(model: str, work: Path) -> Path | None:
    """Seeded random weights of `model` written once (None for tiny)."""
    if model == "tiny":
        return None
    import open_clip
    import torch

    path = work / f"random-{model}.pt"
    if not path.exists():
        torch.manual_seed(0)
        torch.save(open_clip.create_model(model, pretrained=None).state_dict(), path)
    return path


def one_pass(paths: list[Path], clip, frames_per_clip: int, shared: bool) -> tuple[float, int, dict[str, float]]:
    """Score every clip once; (seconds, decodes, split seconds)."""
    from longvid.enrich.clip_score import score_sample
    from longvid.enrich.frames import FrameSpec, SharedFrames
    from longvid.enrich.motion import motion_scores

    caption = [{"start": 0.0, "end": 1e9, "text": "a colourful pattern moving on a screen", "kind": "alt_text", "origin": "b"}]
    both = FrameSpec(count=frames_per_clip, pairs=True)
    clip_only = FrameSpec(count=frames_per_clip, pairs=False)
    cache = SharedFrames(capacity=2)
    split = {"decode": 0.0, "clip": 0.0, "motion": 0.0}
    started = time.perf_counter()
    for path in paths:
        t0 = time.perf_counter()
        if shared:
            for_clip = for_motion = cache.get(path, both)
            cache.get(path, both)  # the second scorer's request: served from the cache
        else:
            for_clip = SharedFrames(capacity=1).get(path, clip_only)
            for_motion = SharedFrames(capacity=1).get(path, both)
            cache.decodes += 2
        t1 = time.perf_counter()
        score_sample(clip, for_clip, caption)
        t2 = time.perf_counter()
        motion_scores(for_motion)
        t3 = time.perf_counter()
        split["decode"] += t1 - t0
        split["clip"] += t2 - t1
        split["motion"] += t3 - t2
    return time.perf_counter() - started, cache.decodes, split


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/longvid-bench-scoring"))
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--frames", type=int, default=8, help="anchor frames per clip")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="tiny", help="tiny, or an open_clip CLIP-BPE model name (ViT-B-32)")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    args = parser.parse_args(argv)

    import torch

    from longvid.enrich.clip_score import load_clip

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    args.work.mkdir(parents=True, exist_ok=True)
    paths = make_clips(args.work, args.clips, args.seconds)
    clip = load_clip(args.model, args.weights or weights_for(args.model, args.work), device)
    print(f"scoring {len(paths)} clips of {args.seconds:g} s (640x360, 25 fps), {args.frames} frames each, "
          f"CLIP {args.model} + motion on {device}"
          + (f" ({torch.cuda.get_device_name()})" if device == "cuda" else f" ({torch.get_num_threads()} threads)"))
    one_pass(paths[:2], clip, args.frames, True)  # warm-up: model, decoder libraries
    times: dict[str, list[float]] = {"shared": [], "separate": []}
    decodes: dict[str, int] = {}
    split: dict[str, float] = {}
    for _ in range(args.repeats):
        for way in ("shared", "separate"):
            seconds, made, parts = one_pass(paths, clip, args.frames, way == "shared")
            times[way].append(seconds)
            decodes[way] = made
            if way == "shared":
                split = parts
    rate = {way: len(paths) / statistics.median(t) for way, t in times.items()}
    for way in ("shared", "separate"):
        print(f"{way:9s} median {statistics.median(times[way]):7.3f} s over {args.repeats} runs "
              f"({min(times[way]):.3f}-{max(times[way]):.3f})  {rate[way]:7.2f} clips/s  {decodes[way]} decodes")
    print(f"shared / separate clips/s: {rate['shared'] / rate['separate']:.2f}x")
    total = sum(split.values())
    print("one shared pass: " + ", ".join(f"{k} {v:.3f} s ({100 * v / total:.0f}%)" for k, v in split.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
