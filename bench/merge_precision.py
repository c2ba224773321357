"""Benchmark: how much the HiCo merge's precision changes the cached tokens, on features of real video.

Makes --videos FFmpeg videos (longvid.sample.videos: one lavfi pattern each, from test charts
to fractal zooms and cellular automata, with a moving box; 320x240, --seconds long, H.264),
samples them with dynamic_fps1 (--t-min/--t-max), decodes and preprocesses the frames as
`longvid precompress` does, and encodes them with --encoder on the CPU in float32. Then it merges
every clip three ways and compares each output token with the float32 merge's token at the
same position:

- float32 merge: the reference (`auto` on the CPU);
- bf16 merge: the same float32 features, merged in bf16 (`--merge-dtype bf16` on the CPU);
- bf16 encoder + bf16 merge: the encoder run in bf16 too (what a GPU run with `auto` caches).

Figures: the fraction of output tokens with cosine < 0.999 against the float32 merge's (both
rounded to bf16 as the cache stores them, so storage rounding alone counts for nothing), the
mean and minimum cosine, the same split into the 15 kept tokens (positions 0-14, ordered by
score) and the 49 anchors (positions 15-63, fixed patches), the fraction of output tokens that
absorbed another set of patches, and how many A tokens share their best-match score with
another A token at the first merge step (ties, which the merge order then decides); and the
merge's own CPU time per clip in float32 and bf16 (median over the videos, same run).

    .venv/bin/python bench/merge_precision.py                       # umt-tiny, 10 videos
    .venv/bin/python bench/merge_precision.py --videos 4 --seconds 20

Everything is written under --work; reruns reuse its videos.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_WORK = Path("/tmp/longvid-bench-merge-precision")
PATTERNS = 10  # longvid.sample.videos has 6 cheap + 4 costly lavfi patterns (all used when short)


def make_inputs(work: Path, videos: int, seconds: float) -> list[tuple[str, Path]]:
    """(pattern name, path) of `videos` FFmpeg-made videos, one lavfi pattern each (made once)."""
    from longvid.sample.videos import VideoSpec, _pattern, make_videos

    specs = []
    for i in range(videos):
        look = (i % PATTERNS) << 3 | (i // PATTERNS) % 8  # bits 3+ pick the pattern
        spec = VideoSpec("bench", f"v{i:03d}", f"videos/v{i:03d}-{seconds:g}s.mp4", round(seconds * 25), "25",
                         320, 240, look, audio=None, index=i)
        specs.append(spec)
    todo = [s for s in specs if not (work / s.path).is_file()]
    if todo:
        print(f"[bench] making {len(todo)} videos under {work}", file=sys.stderr)
        make_videos(work, todo)
    return [(_pattern(s).split("=")[0].split(",")[0], work / s.path) for s in specs]


def clip_features(path: Path, encoder: Any, sampling: Any) -> Any:
    """The encoder's clip features [T/4, P, C] of one video, sampled and preprocessed as precompress does."""
    from longvid.hico.decode import read_frames, video_info
    from longvid.hico.preprocess import preprocess_frames

    vlen, fps = video_info(path)
    pixels = preprocess_frames(read_frames(path, sampling.indices(vlen, fps)), sampling.resolution,
                               mean=encoder.mean, std=encoder.std, dtype=encoder.dtype)
    return encoder.encode(pixels)


def compare(ref: tuple[Any, Any], other: tuple[Any, Any]) -> dict[str, Any]:
    """Per output token: cosine of the two merges' tokens (as stored, bf16) and whether the
    token absorbed the same patches. ref/other = (tokens [N, 64, C], src_map [N, P])."""
    import torch

    a, b = ref[0].to(torch.bfloat16).double(), other[0].to(torch.bfloat16).double()
    cos = torch.nn.functional.cosine_similarity(a, b, dim=-1)  # [N, 64]
    same_set = torch.zeros_like(cos, dtype=torch.bool)
    for clip in range(a.shape[0]):
        src_a, src_b = ref[1][clip], other[1][clip]
        for tok in range(a.shape[1]):
            same_set[clip, tok] = torch.equal(torch.nonzero(src_a == tok), torch.nonzero(src_b == tok))
    return {"cos": cos.flatten(), "other_patches": (~same_set).flatten()}


def tie_fraction(features: Any, groups: int, dtype: Any) -> float:
    """Fraction of A tokens whose best-match score equals another A token's, at the first merge step."""
    import torch

    from longvid.hico.merge import best_matches

    best = best_matches(features.to(dtype), groups)[0]
    tied = 0
    for row in best:
        _, counts = torch.unique(row, return_counts=True)
        tied += int(counts[counts > 1].sum())
    return tied / best.numel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--videos", type=int, default=PATTERNS)
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each video (<= 4 keeps all 10 patterns)")
    parser.add_argument("--encoder", default="umt-tiny")
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--t-min", type=int, default=64)
    parser.add_argument("--t-max", type=int, default=512)
    args = parser.parse_args()

    import torch

    from longvid.hico.encoders import build_encoder
    from longvid.hico.merge import merge_clip_tokens
    from longvid.hico.sampling import SamplingConfig

    sampling = SamplingConfig(t_min=args.t_min, t_max=args.t_max, resolution=args.resolution)
    enc32 = build_encoder(args.encoder, args.weights, args.resolution, "cpu", torch.float32)
    enc16 = build_encoder(args.encoder, args.weights, args.resolution, "cpu", torch.bfloat16)
    groups = enc32.metric_groups
    inputs = make_inputs(args.work.resolve(), args.videos, args.seconds)

    def merge(features: Any, dtype: Any) -> tuple[Any, Any]:
        tokens, _, src = merge_clip_tokens(features, 64, groups, dtype=dtype, track_sources=True)
        return tokens, src

    ways = ("bf16 merge", "bf16 encoder + bf16 merge")
    results: dict[str, list[dict[str, Any]]] = {w: [] for w in ways}
    per_clip_ms: dict[str, list[float]] = {"fp32": [], "bf16": []}
    ties = {"bf16": [], "fp32": []}
    rows = []
    for pattern, path in inputs:
        f32 = clip_features(path, enc32, sampling)
        f16 = clip_features(path, enc16, sampling)
        started = time.perf_counter()
        ref = merge(f32, torch.float32)
        per_clip_ms["fp32"].append((time.perf_counter() - started) * 1e3 / f32.shape[0])
        started = time.perf_counter()
        low = merge(f32, torch.bfloat16)
        per_clip_ms["bf16"].append((time.perf_counter() - started) * 1e3 / f32.shape[0])
        got = {ways[0]: compare(ref, low), ways[1]: compare(ref, merge(f16, torch.bfloat16))}
        ties["bf16"].append(tie_fraction(f32, groups, torch.bfloat16))
        ties["fp32"].append(tie_fraction(f32, groups, torch.float32))
        for way in ways:
            results[way].append(got[way])
        c = got[ways[0]]["cos"]
        rows.append((path.name, pattern, f32.shape[0], f"{(c < 0.999).float().mean().item():.3f}",
                     f"{c.mean().item():.5f}", f"{ties['bf16'][-1]:.3f}", f"{ties['fp32'][-1]:.3f}"))

    print(f"== merge precision on features of real video ({len(inputs)} FFmpeg videos of {args.seconds:g} s, "
          f"320x240; {args.encoder} @ {args.resolution} on the CPU; dynamic_fps1 t {args.t_min}..{args.t_max}; "
          f"64 tokens per 4-frame clip, compared as stored in bf16)")
    print()
    print("per video, bf16 merge vs float32 merge of the same float32 features:")
    header = ("video", "pattern", "clips", "cos<0.999", "mean cos", "ties bf16", "ties fp32")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, *rows]:
        print("  " + "  ".join(str(v).ljust(w) for v, w in zip(r, widths)))
    print()
    clips = sum(r[2] for r in rows)
    print(f"all {clips} clips, {clips * 64} output tokens, against the float32 merge (float32 encoder):")
    for way in ways:
        cos = torch.cat([r["cos"] for r in results[way]])
        other = torch.cat([r["other_patches"] for r in results[way]])
        kept, anchors = cos.view(-1, 64)[:, :15], cos.view(-1, 64)[:, 15:]
        print(f"  {way:<27} tokens with cos < 0.999: {(cos < 0.999).float().mean().item():6.1%} "
              f"(kept {(kept < 0.999).float().mean().item():.1%}, anchors {(anchors < 0.999).float().mean().item():.1%})"
              f"   mean cos {cos.mean().item():.5f} (kept {kept.mean().item():.4f}, anchors {anchors.mean().item():.4f})"
              f"   min cos {cos.min().item():.4f}   tokens of other patches: {other.float().mean().item():.1%}")
    print(f"  first-step A tokens whose best score ties another's: bf16 {sum(ties['bf16']) / len(rows):.1%}, "
          f"float32 {sum(ties['fp32']) / len(rows):.1%} (mean over videos)")
    fp32_ms, bf16_ms = statistics.median(per_clip_ms["fp32"]), statistics.median(per_clip_ms["bf16"])
    print(f"  merge time per clip on this CPU ({torch.get_num_threads()} torch threads, median over videos): "
          f"float32 {fp32_ms:.2f} ms, bf16 {bf16_ms:.2f} ms ({bf16_ms / fp32_ms:.2f}x)")


if __name__ == "__main__":
    main()
