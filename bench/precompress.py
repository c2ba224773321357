"""Benchmark: `longvid precompress` throughput (clips/s, frames/s) and where its time goes.

Makes (once, cached under --work) a WebVid-format corpus of --samples synthetic clips (FFmpeg
lavfi patterns, 5-20 s, 320x240, H.264) and builds it with `longvid build` (runner "local").
Then, in one run:

(a) the whole precompress (`longvid.hico.run.precompress`, force=True): wall time, samples,
    frames, clips -> clips/s and frames/s, with the split its shard stats record (decode
    seconds summed over the decode threads, encode+merge seconds of the encoder thread);
(b) each stage alone, median of --repeats: decode only (`ShardEncoder.decode` over the
    samples, on a pool of --decode-threads threads like the pipeline), and encode+merge only
    (`ShardEncoder.encode_batch` on the already-decoded frames, batched like the pipeline;
    the encoder call is timed apart from the merge). Pipeline wall against the serial sum
    decode + encode shows how much decoding overlaps encoding.

For umt-l without --weights it writes UMT-L-sized random weights (seeded, 290M parameters,
`encoder.*` names as the real UMT-L_f4_vision.pt) once to --work and uses them: real UMT-L
compute, meaningless features.

On a GPU (the real figure):

    .venv/bin/python bench/precompress.py --encoder umt-l --work /tmp/longvid-bench-precompress

On a CPU (small settings; absolute times are only meaningful on a GPU):

    .venv/bin/python bench/precompress.py --encoder umt-tiny --samples 200 --t-min 8 --t-max 16
    .venv/bin/python bench/precompress.py --encoder umt-l --samples 4 --t-min 4 --t-max 4

Everything is written under --work (temporary files included); reruns reuse its media,
corpora and weights.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

DEFAULT_WORK = Path("/tmp/longvid-bench-precompress")
FPS = ("24", "25", "30000/1001", "30")
SIZE = (320, 240)
SECONDS = (5.0, 20.0)
HEADER_2M = ["videoid", "contentUrl", "duration", "page_dir", "name"]


def use_work_tmp(work: Path) -> None:
    """Send every temporary file of this process (decode's temp .mp4s included) under --work."""
    folder = Path(work) / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(folder)


# ------------------------------------------------------------------------------ corpus


def video_specs(n: int, seed: int = 0) -> list[Any]:
    """Specs of the first n synthetic WebVid clips; clip i is the same whatever n is."""
    from longvid.sample.videos import plan

    specs = []
    for i in range(n):
        rng = random.Random(seed * 1_000_003 + i)
        vid = str(10_000_000 + i)
        first = i // 50 * 50 + 1
        page_dir = f"{first:06d}_{first + 49:06d}"
        spec = plan(rng, "webvid", vid, f"media/webvid/{page_dir}/{vid}.mp4", rng.uniform(*SECONDS),
                    fps=rng.choice(FPS), size=SIZE, audio=None)
        specs.append(replace(spec, index=i))
    return specs


def write_manifest(path: Path, specs: list[Any]) -> None:
    from longvid.sample.manifests import iso_duration

    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    with open(part, "w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(HEADER_2M)
        for spec in specs:
            page_dir = spec.path.split("/")[2]
            out.writerow([spec.native_id, f"https://example.invalid/webvid/{spec.native_id}.mp4",
                          iso_duration(int(spec.duration)), page_dir, f"synthetic clip number {spec.index}"])
    part.replace(path)


def ensure_corpus(work: Path, n: int, log: Callable[[str], None] = print, seed: int = 0) -> Path:
    """WORK/corpus-n<N> (built once): N synthetic WebVid clips in video shards."""
    from longvid.shards.writer import shard_done

    corpus = Path(work) / f"corpus-n{n}"
    shard_dir = corpus / "shards"
    done = [p for p in shard_dir.glob("*.tar") if shard_done(shard_dir, p.name.removesuffix(".tar"))]
    if (corpus / "build.json").is_file() and done:
        return corpus
    from longvid.pipeline.build import BuildConfig, build
    from longvid.sample.videos import make_videos

    specs = video_specs(n, seed)
    missing = [s for s in specs if not (Path(work) / s.path).is_file()]
    if missing:
        started = time.perf_counter()
        log(f"[corpus] making {len(missing)} clips with FFmpeg under {Path(work) / 'media'}")
        make_videos(Path(work), missing, workers=2)
        log(f"[corpus] clips made in {time.perf_counter() - started:.1f} s")
    manifests = Path(work) / f"manifests-n{n}"
    write_manifest(manifests / "webvid" / "results_2M_val.csv", specs)
    started = time.perf_counter()
    log(f"[corpus] building {corpus} (runner local)")
    build(BuildConfig(sources=["webvid"], manifests=manifests, corpus=corpus, media_root=Path(work) / "media",
                      runner="local", workers=2, allow_private_hosts=True))
    log(f"[corpus] built in {time.perf_counter() - started:.1f} s")
    return corpus


def ensure_umt_l_weights(work: Path, resolution: int = 224, seed: int = 0,
                         log: Callable[[str], None] = print) -> Path:
    """WORK/umt-l-random-seed<seed>.pt: a flat `encoder.*` name -> fp32 tensor mapping, UMT-L sized."""
    import torch

    from longvid.hico.encoders.umt import UMT_L, UMTVisionTower, init_seeded

    path = Path(work) / f"umt-l-random-seed{seed}.pt"
    if path.is_file():
        return path
    started = time.perf_counter()
    model = UMTVisionTower(UMT_L, resolution)
    init_seeded(model, seed)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    part = path.with_name(path.name + ".part")
    torch.save(state, part)
    part.replace(path)
    params = sum(v.numel() for v in state.values())
    log(f"[weights] wrote {len(state)} tensors, {params / 1e6:.1f}M parameters, "
        f"{path.stat().st_size / 2**20:.0f} MiB -> {path} in {time.perf_counter() - started:.1f} s")
    return path


def shard_samples(corpus: Path) -> list[tuple[str, dict[str, bytes]]]:
    """Every (key, members) of the corpus's finished video shards, in shard order, in memory."""
    from longvid.shards.reader import iter_shard
    from longvid.shards.writer import shard_done

    shard_dir = Path(corpus) / "shards"
    out = []
    for tar in sorted(shard_dir.glob("*.tar")):
        if shard_done(shard_dir, tar.name.removesuffix(".tar")):
            out += [(s["__key__"], s) for s in iter_shard(tar)]
    return out


# ------------------------------------------------------------------------------ measuring


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def batches(decoded: list[Any], clips_per_batch: int) -> list[list[Any]]:
    """The pipeline's grouping (ShardEncoder.decoded_batches): about clips_per_batch clips each."""
    out, batch = [], []
    for i, d in enumerate(decoded):
        batch.append(d)
        if sum(len(x.sampled.indices) for x in batch) // 4 >= clips_per_batch or i == len(decoded) - 1:
            out.append(batch)
            batch = []
    return out


def decode_pass(worker: Any, samples: list[tuple[str, dict[str, bytes]]],
                threads: int) -> tuple[float, float, list[Any]]:
    """(wall s, sum of per-sample decode s, decoded samples in order) with `threads` threads."""
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda item: worker.decode(*item), samples))
    wall = time.perf_counter() - started
    decoded = [d for d in results if hasattr(d, "frames")]  # a Failed sample has no frames
    if len(decoded) < len(results):
        print(f"[bench] {len(results) - len(decoded)} sample(s) failed to decode", file=sys.stderr)
    return wall, sum(d.seconds for d in decoded), decoded


def encode_pass(worker: Any, groups: list[list[Any]], device: str) -> tuple[float, float]:
    """(encode+merge wall s, of which the encoder call s) over all batches, via encode_batch."""
    encoder = worker.encoder
    original = encoder.encode
    spent = [0.0]

    def timed(frames: Any) -> Any:
        sync(device)
        started = time.perf_counter()
        out = original(frames)
        sync(device)
        spent[0] += time.perf_counter() - started
        return out

    encoder.encode = timed  # instance attribute: only this worker, undone below
    try:
        sync(device)
        started = time.perf_counter()
        for batch in groups:
            worker.encode_batch(batch)
        sync(device)
        return time.perf_counter() - started, spent[0]
    finally:
        del encoder.encode


def median(values: list[float]) -> float:
    return statistics.median(values)


def rate(count: float, seconds: float) -> str:
    return f"{count / seconds:,.2f}" if seconds > 0 else "-"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


# ------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200, help="synthetic WebVid clips in the corpus")
    parser.add_argument("--encoder", default="umt-l", help="umt-l, umt-tiny, open_clip:tiny, ...")
    parser.add_argument("--weights", type=Path, default=None,
                        help="encoder weights (umt-l: random UMT-L-sized ones are written to --work if not given)")
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda if available")
    parser.add_argument("--t-min", type=int, default=None, help="default 64 on GPU, 8 on CPU")
    parser.add_argument("--t-max", type=int, default=None, help="default 512 on GPU, 16 on CPU")
    parser.add_argument("--clips-per-batch", type=int, default=32)
    parser.add_argument("--decode-threads", type=int, default=2)
    parser.add_argument("--decoder", default="auto", help="frame decoder: auto, torchcodec, decord, pyav or nvdec")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each stage in (b); medians are printed")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device")
    gpu = device == "cuda"
    t_min = args.t_min if args.t_min is not None else (64 if gpu else 8)
    t_max = args.t_max if args.t_max is not None else (512 if gpu else 16)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    use_work_tmp(work)
    log = lambda message: print(message, file=sys.stderr, flush=True)

    from longvid.hico.precompress import PrecompressConfig, ShardEncoder
    from longvid.hico.run import precompress

    corpus = ensure_corpus(work, args.samples, log=log, seed=args.seed)
    weights = args.weights
    synthetic_weights = False
    if args.encoder == "umt-l" and weights is None:
        weights, synthetic_weights = ensure_umt_l_weights(work, args.resolution, args.seed, log=log), True
    config = PrecompressConfig(corpus=corpus, encoder=args.encoder, weights=weights, resolution=args.resolution,
                               t_min=t_min, t_max=t_max, gpus=1 if gpu else 0,
                               clips_per_batch=args.clips_per_batch, decode_threads=args.decode_threads,
                               decoder=args.decoder, force=True)

    # (a) the whole precompress, as `longvid precompress` runs it.
    log("[bench] (a) whole precompress")
    summary = precompress(config, log=log)
    n, frames, clips, wall = summary["samples"], summary["frames"], summary["clips"], summary["wall_seconds"]
    decode_sum, encode_sum = summary["seconds"]["decode_task_seconds"], summary["seconds"]["encode_seconds"]

    # (b) each stage alone, in this process, on the same samples and settings.
    log("[bench] (b) stages alone: building the encoder")
    started = time.perf_counter()
    worker = ShardEncoder(config, device)
    sync(device)
    setup = time.perf_counter() - started
    samples = shard_samples(corpus)
    dec_wall, dec_sum, enc_wall, enc_only = [], [], [], []
    decoded: list[Any] = []
    for r in range(args.repeats):
        decoded = []  # drop the previous pass's frames first
        w, s, decoded = decode_pass(worker, samples, args.decode_threads)
        dec_wall.append(w)
        dec_sum.append(s)
        log(f"[bench] decode pass {r + 1}: {w:.2f} s")
    b_frames = sum(len(d.sampled.indices) for d in decoded)
    b_clips = b_frames // 4
    groups = batches(decoded, args.clips_per_batch)
    for r in range(args.repeats):
        w, e = encode_pass(worker, groups, device)
        enc_wall.append(w)
        enc_only.append(e)
        log(f"[bench] encode+merge pass {r + 1}: {w:.2f} s (encoder {e:.2f} s)")
    d_wall, d_sum, e_wall, e_only = median(dec_wall), median(dec_sum), median(enc_wall), median(enc_only)
    merge = e_wall - e_only
    serial = d_wall + e_wall
    steady = max(wall - setup, 1e-9)

    # report
    cpu_note = ("CPU RUN: absolute times only meaningful on a GPU; ratios measured in the same run."
                if not gpu else f"GPU run: {torch.cuda.get_device_name(0)}")
    tag = summary["encoder_tag"]
    print(f"== precompress benchmark ({cpu_note})")
    print(f"encoder {args.encoder} @ {args.resolution} on {device}"
          f"{' (' + str(torch.get_num_threads()) + ' torch threads)' if not gpu else ''}, dtype "
          f"{worker.facts.encoder_dtype}, merge in {worker.facts.merge_dtype}, weights "
          f"{'random UMT-L-sized (seeded) ' if synthetic_weights else ''}{weights or 'built-in'}")
    print(f"corpus {corpus}: {n} samples in {summary['shards']} shard(s); sampling t_min {t_min}, t_max {t_max}; "
          f"{frames} frames = {clips} clips ({frames / max(n, 1):.1f} frames/sample); "
          f"clips/batch {args.clips_per_batch}; decode threads {args.decode_threads}; decoder {args.decoder}")
    print(f"feature cache tag {tag}")
    print()
    print("(a) whole precompress (longvid.hico.run.precompress, one run)")
    print(table([
        ["precompress wall (incl. encoder setup)", f"{wall:.2f}", rate(clips, wall), rate(frames, wall), rate(n, wall)],
        ["  minus encoder setup (b)", f"{steady:.2f}", rate(clips, steady), rate(frames, steady), rate(n, steady)],
    ], ["", "seconds", "clips/s", "frames/s", "samples/s"]))
    print(f"split from the shard stats: decode {decode_sum:.2f} s (summed over the decode tasks, {args.decode_threads} threads, "
          f"runs beside encoding), encode+merge {encode_sum:.2f} s (encoder thread) "
          f"= {encode_sum / max(wall, 1e-9):.0%} of the wall")
    print()
    print(f"(b) stages alone on the same {len(decoded)} samples (median of {args.repeats})")
    print(table([
        ["encoder setup (build, load weights, hash)", f"{setup:.2f}", "", "", ""],
        [f"decode only ({args.decode_threads} threads; per-sample sum {d_sum:.2f} s)", f"{d_wall:.2f}",
         rate(b_clips, d_wall), rate(b_frames, d_wall), rate(len(decoded), d_wall)],
        ["encode+merge only (encode_batch)", f"{e_wall:.2f}", rate(b_clips, e_wall), rate(b_frames, e_wall),
         rate(len(decoded), e_wall)],
        ["  encoder forward", f"{e_only:.2f}", rate(b_clips, e_only), rate(b_frames, e_only), ""],
        ["  merge (+ cat, split)", f"{merge:.2f}", rate(b_clips, merge), rate(b_frames, merge), ""],
        ["decode + encode+merge, serial sum", f"{serial:.2f}", rate(b_clips, serial), rate(b_frames, serial),
         rate(len(decoded), serial)],
        ["pipeline (a) minus setup", f"{steady:.2f}", rate(clips, steady), rate(frames, steady), rate(n, steady)],
    ], ["", "seconds", "clips/s", "frames/s", "samples/s"]))
    print(f"time shares of the serial sum: decode {d_wall / serial:.0%}, encoder {e_only / serial:.0%}, "
          f"merge {merge / serial:.0%}")
    print(f"overlap: pipeline / serial sum = {steady / serial:.2f} (1.00 = no overlap; "
          f"{max(d_wall, e_wall) / serial:.2f} = perfect overlap, bound by the slower stage)")
    print(f"per-pass times: decode {', '.join(f'{x:.2f}' for x in dec_wall)} s; "
          f"encode+merge {', '.join(f'{x:.2f}' for x in enc_wall)} s")
    print("json " + json.dumps({
        "device": device, "encoder": args.encoder, "samples": n, "frames": frames, "clips": clips,
        "t_min": t_min, "t_max": t_max, "wall_s": wall, "setup_s": round(setup, 3),
        "stats_decode_s": decode_sum, "stats_encode_s": encode_sum, "decode_only_s": round(d_wall, 3),
        "encode_merge_only_s": round(e_wall, 3), "encoder_only_s": round(e_only, 3), "merge_s": round(merge, 3),
        "clips_per_s": round(clips / wall, 3), "frames_per_s": round(frames / wall, 3)}))


if __name__ == "__main__":
    main()
