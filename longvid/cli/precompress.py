"""`longvid precompress`: cache HiCo features beside the video shards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from longvid.cli.common import clear_errors, log


def precompress(
    corpus: Path = typer.Argument(..., help="corpus folder with finished video shards"),
    gpus: int = typer.Option(0, "--gpus", help="GPUs (one Ray actor each); 0 runs on the CPU in this process"),
    cpu_actors: int = typer.Option(0, "--cpu-actors", help="with --gpus 0: this many Ray actors on CPUs instead of this process"),
    encoder: str = typer.Option("umt-l", "--encoder", help="umt-l, umt-tiny, open_clip:<model>, open_clip:tiny"),
    weights: Optional[Path] = typer.Option(None, "--weights", help="encoder weights file (required for umt-l and open_clip:<model>)"),
    resolution: int = typer.Option(224, "--resolution", help="square input size: 224 or 448"),
    sampler: str = typer.Option("dynamic_fps1", "--sampler",
                                help="dynamic_fps1 (stages 2-4: about 1 fps, T between --t-min and --t-max) or "
                                     "middle (stage 1: --t-max frames, the middle of equal bins)"),
    fps: Optional[float] = typer.Option(None, "--fps", help="sample as if the video were cut into frames at this rate "
                                        "(1: as VideoChat-Flash reads the LongVid JPEG folders); default: the video's own frames"),
    t_min: Optional[int] = typer.Option(None, "--t-min", help="fewest frames per sample (dynamic_fps1; default 64, 1 for middle)"),
    t_max: int = typer.Option(512, "--t-max", help="most frames per sample (dynamic_fps1); the frame count of middle"),
    encoder_dtype: str = typer.Option("auto", "--encoder-dtype",
                                      help="auto (bf16 on a GPU, fp32 on the CPU), bf16, fp16 or fp32; part of the cache's name"),
    merge_dtype: str = typer.Option("auto", "--merge-dtype",
                                    help="auto (the encoder's dtype: bf16 on a GPU, fp32 on the CPU, as VideoChat-Flash), "
                                         "bf16, fp16 or fp32; part of the cache's name"),
    clips_per_batch: int = typer.Option(32, "--clips-per-batch", help="4-frame clips per encoder call"),
    decode_threads: int = typer.Option(2, "--decode-threads", help="decoding threads per worker when decoding inside it"),
    decode_cpus: Optional[int] = typer.Option(None, "--decode-cpus",
                                              help="one-CPU decode tasks at once across the Ray cluster, feeding the "
                                                   "encoders (default with --gpus/--cpu-actors: every CPU the actors "
                                                   "leave; 0: decode inside each worker)"),
    actor_cpus: Optional[float] = typer.Option(None, "--actor-cpus",
                                               help="CPUs each encoder actor asks (default 1; --decode-threads "
                                                    "when decoding inside it)"),
    decoder: str = typer.Option("auto", "--decoder", help="auto (the fastest available: torchcodec, decord, pyav), "
                                "torchcodec, decord, pyav, or nvdec (the GPUs' decoders, with --gpus)"),
    proxy: str = typer.Option("auto", "--proxy", help="auto: read the build's proxies (longvid build --proxy) when "
                              "their short side is at least --resolution; off: the source videos"),
    plan: bool = typer.Option(False, "--plan", help="measure a sample of the corpus and print what caching all of it "
                              "would cost with each decoder and proxy choice; encodes nothing"),
    plan_samples: int = typer.Option(8, "--plan-samples", help="with --plan: samples measured"),
    hours: Optional[float] = typer.Option(None, "--hours", help="with --plan: project to this many hours of video "
                                          "(default: the corpus's)"),
    gpu_clips_per_s: float = typer.Option(900.0, "--gpu-clips-per-s",
                                          help="with --plan: one GPU's encoder rate in 4-frame clips/s (default: "
                                               "UMT-L at 224 on an H100, about 900)"),
    address: Optional[str] = typer.Option(None, "--address", envvar="RAY_ADDRESS", help="Ray cluster address"),
    force: bool = typer.Option(False, "--force", help="re-encode shards that are already cached"),
    retry_failed: bool = typer.Option(False, "--retry-failed",
                                      help="decode again the samples an earlier run could not (its errors rows); "
                                           "a plain rerun leaves them alone"),
) -> None:
    """Decode every sample once, encode and HiCo-merge it (16 tokens per frame), cache the tokens.

    A sample whose video cannot be decoded becomes one errors row (stage precompress); the shard goes on.

    The cache, features/<tag>/, is named by encoder, resolution, encoder and merge dtype, weights and sampling.
    """
    from longvid.hico.precompress import PrecompressConfig
    from longvid.hico.run import precompress as run_precompress

    with clear_errors():
        config = PrecompressConfig(
            corpus=corpus, encoder=encoder, weights=weights, resolution=resolution, t_min=t_min, t_max=t_max,
            sampler=sampler, fps=fps, encoder_dtype=encoder_dtype, merge_dtype=merge_dtype, gpus=gpus, cpu_actors=cpu_actors,
            clips_per_batch=clips_per_batch, decode_threads=decode_threads, decode_cpus=decode_cpus,
            actor_cpus=actor_cpus, decoder=decoder, proxy=proxy, force=force, retry_failed=retry_failed)
        if plan:
            from longvid.hico.plan import plan_corpus, plan_table

            projection = plan_corpus(config, samples=plan_samples, hours=hours, gpu_clips_per_s=gpu_clips_per_s, log=log)
            typer.echo(plan_table(projection))
            return
        summary = run_precompress(config, address=address, log=log)
    typer.echo(json.dumps(summary, indent=1))
