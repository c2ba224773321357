"""Benchmark: sampled frames/s per core for each decoder, and what a build-time proxy costs and saves.

Makes (once, under --work) 60-s H.264 videos with FFmpeg (testsrc2 with light temporal noise: about
3 Mbit/s at 720p, like web video), at 720, 448 and 256 pixels high (16:9), each with a long (250
frames) and a short (30 frames) keyframe interval. For every video and every available decoder
(longvid.hico.decode: torchcodec, decord, pyav; nvdec where a GPU is), it opens the video and reads
the 64 frames `dynamic_fps1` samples from it (the middles of 64 equal bins), one thread, as a decode
task does, --repeats times; it prints the median sampled frames per CPU-second (process time:
every thread counted, so "per core") and per wall-second.

Then the proxy (longvid.media.proxy, short side 448, keyframes on the sampled frames) of each
720p video: what making it costs (FFmpeg's CPU seconds, per hour of video), its size against the
source's, and the sampled frames/s per core reading it instead of the source.

    .venv/bin/python bench/decoders.py                # the table in the README
    .venv/bin/python bench/decoders.py --repeats 1 --heights 256
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_WORK = Path("/tmp/longvid-bench-decoders")
SECONDS, RATE, FRAMES = 60, 30, 64


def make_video(work: Path, height: int, keyint: int) -> Path:
    from longvid.media.ffmpeg import run_ffmpeg

    width = round(height * 16 / 9 / 2) * 2
    path = work / f"h264-{height}p-g{keyint}.mp4"
    if not path.is_file():
        part = path.with_suffix(".part.mp4")
        run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={RATE}:duration={SECONDS},"
                    "noise=alls=4:allf=t", "-c:v", "libx264", "-preset", "veryfast", "-crf", "23",
                    "-pix_fmt", "yuv420p", "-g", str(keyint), "-keyint_min", str(keyint), "-sc_threshold", "0",
                    str(part)])
        part.replace(path)
    return path


def sample_once(path: Path, decoder: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) to open `path` and read the sampled frames."""
    from longvid.hico.decode import open_video
    from longvid.hico.sampling import SamplingConfig

    cpu, wall = time.process_time(), time.perf_counter()
    video = open_video(path, decoder)
    frames = video.read(SamplingConfig(t_min=FRAMES, t_max=FRAMES).indices(video.vlen, video.fps))
    if decoder == "nvdec":
        import torch

        torch.cuda.synchronize()
    video.close()
    assert len(frames) == FRAMES
    return time.process_time() - cpu, time.perf_counter() - wall


def rates(path: Path, decoder: str, repeats: int) -> tuple[float, float]:
    """Median sampled frames per CPU-second and per wall-second."""
    runs = [sample_once(path, decoder) for _ in range(repeats)]
    return FRAMES / statistics.median(c for c, _ in runs), FRAMES / statistics.median(w for _, w in runs)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--heights", default="720,448,256")
    parser.add_argument("--proxy", type=int, default=448, help="proxy short side (0: no proxy table)")
    args = parser.parse_args(argv)

    from longvid.hico.decode import available_decoders

    args.work.mkdir(parents=True, exist_ok=True)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    decoders = available_decoders()
    heights = [int(h) for h in args.heights.split(",")]
    table: list[list[Any]] = []
    for height in heights:
        for keyint in (250, 30):
            log(f"[bench] {height}p, keyframe every {keyint}")
            path = make_video(args.work, height, keyint)
            row = [f"{height}p", keyint]
            for decoder in decoders:
                per_core, per_wall = rates(path, decoder, args.repeats)
                row += [f"{per_core:.1f}", f"{per_wall:.1f}"]
            table.append(row)
    print(f"== sampled frames/s ({FRAMES} frames of a {SECONDS}-s {RATE}-fps H.264 video, one thread; median of "
          f"{args.repeats}; per core = per CPU-second of this process)")
    header = ["video", "keyint"] + [f"{d} {unit}" for d in decoders for unit in ("/core", "/wall")]
    print(" | ".join(header))
    for row in table:
        print(" | ".join(str(c) for c in row))
    if "nvdec" not in decoders:
        print("(no GPU here: nvdec not measured)")
    if args.proxy and 720 in heights:
        from longvid.media.proxy import make_proxy

        print(f"\n== proxies, short side {args.proxy}, of the 720p videos (longvid.media.proxy)")
        print("source keyint | build CPU s per video hour | size vs source | best source /core | best proxy /core | "
              "saving")
        for keyint in (250, 30):
            src = make_video(args.work, 720, keyint)
            dst = args.work / f"proxy{args.proxy}-of-{src.name}"
            before, started = children_cpu(), time.perf_counter()
            dst.unlink(missing_ok=True)
            make_proxy(src, dst, args.proxy)
            cpu = children_cpu() - before
            best_src = max(rates(src, d, args.repeats)[0] for d in decoders if d != "nvdec")
            best_proxy = max(rates(dst, d, args.repeats)[0] for d in decoders if d != "nvdec")
            print(f"{keyint} | {cpu * 3600 / SECONDS:.0f} (wall {time.perf_counter() - started:.1f} s for {SECONDS} s) | "
                  f"{dst.stat().st_size / src.stat().st_size:.0%} | {best_src:.1f} | {best_proxy:.1f} | "
                  f"{best_proxy / best_src:.1f}x")


if __name__ == "__main__":
    main()
