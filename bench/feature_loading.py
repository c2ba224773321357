"""Benchmark: reading cached HiCo features against decoding the same samples from the videos.

For the same samples of one corpus, in one process and one thread of Python (torch keeps its
own intra-op threads), median of --repeats passes each, the three readers interleaved:

- features, FeatureDataset: `longvid.hico.dataset.FeatureDataset` over the feature shards
  (what training reads: tokens, sizes, frame indices, captions, time prompt);
- features, plain loop: tarfile over the same feature tars, `safetensors.torch.load` of each
  `.hico.safetensors` member and `json.loads` of each `.json`;
- video: the video shards through the path precompress decodes with (mp4 bytes to a temp
  file, video_info -> the cache's sampling config -> indices -> read_frames ->
  preprocess_frames at the cache's resolution), i.e. everything before the encoder.

samples/s for each and the ratio. Both read from disk (the page cache is warm after the first
pass, for both alike). The corpus and its feature cache come from bench/precompress.py's
--work when there (same --samples); otherwise it makes the corpus there and caches features
with --encoder (umt-tiny by default, t 8..16, on the CPU) first. Every feature cache of the
corpus is measured, or only --tag.

    .venv/bin/python bench/feature_loading.py --samples 200 --work /tmp/longvid-bench-precompress
    .venv/bin/python bench/feature_loading.py --samples 4    # the UMT-L (dim 1024) cache of the CPU umt-l run

Writes only under --work (temporary files included).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.dont_write_bytecode = True  # no __pycache__ beside this script


def _bench_precompress() -> Any:
    """The sibling bench/precompress.py (corpus making, table helpers), imported by path."""
    path = Path(__file__).resolve().with_name("precompress.py")
    spec = importlib.util.spec_from_file_location("_longvid_bench_precompress", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def feature_caches(corpus: Path) -> list[str]:
    """Tags of the feature caches of `corpus` that have finished shards."""
    from longvid.hico.dataset import feature_shards

    root = Path(corpus) / "features"
    tags = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return [t for t in tags if feature_shards(corpus, t)]


def cache_info(corpus: Path, tag: str) -> dict[str, Any]:
    """Shards, sampling config and keys of one feature cache (from its shard stats)."""
    from longvid.hico.dataset import feature_shards
    from longvid.shards.writer import read_stats

    shards = feature_shards(corpus, tag)
    stats = [read_stats(s.parent, s.name.removesuffix(".tar")) or {} for s in shards]
    keys = {row["key"] for st in stats for row in st.get("rows", [])}
    frames = sum(row["frames"] for st in stats for row in st.get("rows", []))
    dims = {row["dim"] for st in stats for row in st.get("rows", [])}
    return {"shards": shards, "sampling": stats[0]["sampling"], "keys": keys, "frames": frames,
            "dim": ",".join(str(d) for d in sorted(dims)), "bytes": sum(s.stat().st_size for s in shards)}


# ------------------------------------------------------------------------------ the readers


def read_dataset(shards: list[Path]) -> int:
    from longvid.hico.dataset import FeatureDataset

    n = 0
    for item in FeatureDataset(shards):
        n += item["tokens"].shape[0] > 0
    return n


def read_plain(shards: list[Path]) -> int:
    from safetensors.torch import load

    n = 0
    for shard in shards:
        with tarfile.open(shard, mode="r|") as tar:
            for info in tar:
                if not info.isfile():
                    continue
                f = tar.extractfile(info)
                assert f is not None
                data = f.read()
                if info.name.endswith(".hico.safetensors"):
                    n += load(data)["tokens"].shape[0] > 0
                elif info.name.endswith(".json"):
                    json.loads(data)
    return n


def read_video(video_shards: list[Path], keys: set[str], sampling: Any, decoder: str) -> int:
    """What ShardEncoder.decode does for each wanted sample (without the encoder)."""
    from longvid.hico.decode import read_frames, video_info
    from longvid.hico.preprocess import preprocess_frames
    from longvid.shards.reader import iter_shard

    n = 0
    for shard in video_shards:
        for sample in iter_shard(shard):
            if sample["__key__"] not in keys:
                continue
            with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
                f.write(sample["mp4"])
                f.flush()
                vlen, fps = video_info(f.name, decoder)
                indices = sampling.indices(vlen, fps)
                frames = read_frames(f.name, indices, decoder)
            pixels = preprocess_frames(frames, sampling.resolution)
            json.loads(sample["json"])
            n += pixels.shape[0] > 0
    return n


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    n = fn()
    return time.perf_counter() - started, n


# ------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200, help="size of the synthetic corpus (corpus-n<N>)")
    parser.add_argument("--work", type=Path, default=None, help="default: bench/precompress.py's default --work")
    parser.add_argument("--tag", default=None, help="measure only this feature cache (default: every one)")
    parser.add_argument("--encoder", default="umt-tiny", help="encoder for a cache made here, when none exists")
    parser.add_argument("--t-min", type=int, default=8, help="sampling of a cache made here")
    parser.add_argument("--t-max", type=int, default=16, help="sampling of a cache made here")
    parser.add_argument("--decoder", default="auto", help="frame decoder: auto, torchcodec, decord, pyav or nvdec")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    from longvid.hico.sampling import SamplingConfig
    from longvid.shards.writer import shard_done

    bp = _bench_precompress()
    work = (args.work or bp.DEFAULT_WORK).resolve()
    work.mkdir(parents=True, exist_ok=True)
    bp.use_work_tmp(work)
    log = lambda message: print(message, file=sys.stderr, flush=True)

    corpus = bp.ensure_corpus(work, args.samples, log=log, seed=args.seed)
    tags = feature_caches(corpus)
    if args.tag is not None:
        if args.tag not in tags:
            parser.error(f"{corpus} has no finished feature cache {args.tag!r} (has: {', '.join(tags) or 'none'})")
        tags = [args.tag]
    if not tags:
        from longvid.hico.precompress import PrecompressConfig
        from longvid.hico.run import precompress

        log(f"[bench] no feature cache in {corpus}: caching with {args.encoder} (t {args.t_min}..{args.t_max}) first")
        precompress(PrecompressConfig(corpus=corpus, encoder=args.encoder, t_min=args.t_min, t_max=args.t_max),
                    log=log)
        tags = feature_caches(corpus)
    shard_dir = corpus / "shards"
    video_shards = sorted(p for p in shard_dir.glob("*.tar") if shard_done(shard_dir, p.name.removesuffix(".tar")))
    video_bytes = sum(p.stat().st_size for p in video_shards)

    print(f"== feature loading benchmark (CPU, {torch.get_num_threads()} torch threads; absolute rates are this "
          f"machine's, the ratios are measured in the same run, median of {args.repeats})")
    print(f"corpus {corpus}: {len(video_shards)} video shard(s), {video_bytes / 2**20:.1f} MiB")
    for tag in tags:
        info = cache_info(corpus, tag)
        sampling = SamplingConfig(**info["sampling"])
        n = len(info["keys"])
        readers = {  # short name -> (label, reader)
            "dataset": ("features: FeatureDataset", lambda: read_dataset(info["shards"])),
            "plain": ("features: tarfile + safetensors load", lambda: read_plain(info["shards"])),
            "video": (f"video: decode + sample + resize to {sampling.resolution}",
                      lambda: read_video(video_shards, info["keys"], sampling, args.decoder)),
        }
        seconds: dict[str, list[float]] = {name: [] for name in readers}
        for r in range(args.repeats):
            for name, (_, fn) in readers.items():
                s, got = timed(fn)
                if got != n:
                    raise RuntimeError(f"{name}: read {got} samples, the cache has {n}")
                seconds[name].append(s)
            log(f"[bench] {tag} pass {r + 1}: " + ", ".join(f"{s[-1]:.3f} s" for s in seconds.values()))
        med = {name: statistics.median(v) for name, v in seconds.items()}
        print()
        print(f"cache {tag}: {n} samples, {info['frames']} frames ({info['frames'] / n:.1f}/sample, "
              f"t {sampling.t_min}..{sampling.t_max}), token dim {info['dim']}, "
              f"{info['bytes'] / n / 1024:.1f} KiB/sample of features vs "
              f"{video_bytes / max(n, 1) / 1024:.1f} KiB/sample of video shard")
        rows = []
        for name, s in med.items():
            rows.append([readers[name][0], f"{s:.3f}", bp.rate(n, s), bp.rate(info["frames"], s),
                         f"{med['video'] / s:.1f}x" if s > 0 else "-"])
        print(bp.table(rows, ["reader", "seconds", "samples/s", "frames/s", "speed vs video"]))
        print(f"ratio (samples/s): FeatureDataset / video = {med['video'] / med['dataset']:.1f}, "
              f"plain loop / video = {med['video'] / med['plain']:.1f}, "
              f"FeatureDataset / plain loop = {med['plain'] / med['dataset']:.2f}")
        print("per-pass seconds: " + "; ".join(f"{name} {', '.join(f'{x:.3f}' for x in v)}"
                                                for name, v in seconds.items()))
        print("json " + json.dumps({"tag": tag, "samples": n, "frames": info["frames"],
                                    **{f"{name}_samples_per_s": round(n / s, 3) for name, s in med.items()}}))


if __name__ == "__main__":
    main()
