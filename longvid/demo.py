"""`make demo` / `longvid demo DIR`: the main job end to end on a sample it makes itself.

Makes the sample (all five sources, some rows served over loopback HTTP), serves its HTTP
rows from a thread in this process, runs the build on a local Ray with the model stages
(pipelines/longvid-scored.yaml: tiny CoCa captions, CLIP similarity, motion, near-duplicates),
rebuilds it with a `--select` over the scores (nothing recomputed), exports it as LLaVA /
VideoChat-Flash annotations, caches HiCo features with
the tiny UMT encoder on the CPU (t_max 64 to keep it quick), prints the stats and SQL answers
over the catalog, and ends with a few training steps of the tiny LLM on the feature cache alone
(the trainer/ package), printing the loss of each step.
"""

from __future__ import annotations

import shutil
import socket
from importlib import resources
from pathlib import Path
from typing import Callable

from longvid.registry import SOURCES

QUESTIONS = [
    ("samples, hours and megabytes per source",
     "SELECT source, count(*) AS samples, round(sum(duration) / 3600, 3) AS hours, "
     "round(sum(bytes) / 1e6, 2) AS mbytes, sum(n_captions) AS captions FROM clips GROUP BY source ORDER BY source"),
    ("the longest sample and its first captions",
     "SELECT key, round(duration, 1) AS seconds, n_captions, captions[1].text AS first_caption "
     "FROM clips ORDER BY duration DESC LIMIT 1"),
    ("HiCo tokens per frame in the feature cache",
     "SELECT encoder_tag, count(*) AS samples, sum(frames) AS frames, sum(tokens) AS tokens, "
     "sum(tokens) / sum(frames) AS tokens_per_frame FROM features GROUP BY encoder_tag"),
]


TRAIN_STEPS = 8
SCORED_RECIPE = "longvid-scored.yaml"
SELECT = "motion > 0.005"
SCORE_QUESTIONS = [
    ("scores per source (tiny random models: the numbers show the plumbing, not quality)",
     "SELECT source, count(*) AS samples, round(avg(scores['clip_sim']), 3) AS clip_sim, "
     "round(avg(scores['motion']), 4) AS motion FROM clips GROUP BY source ORDER BY source"),
    ("what the selection left out, and why",
     "SELECT stage, reason, count(*) AS samples, round(max(scores['motion']), 4) AS max_motion FROM filtered GROUP BY ALL"),
    ("near-duplicates by CLIP embedding (a random tiny CLIP sees most frames alike: real weights separate them)",
     "SELECT same_source, same_video, count(*) AS duplicates FROM duplicates GROUP BY ALL ORDER BY ALL"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_demo(out: Path, *, small: bool = True, runner: str = "ray", workers: int | None = None,
             log: Callable[[str], None] = print, show: Callable[[str], None] = print) -> dict:
    """Sample -> build (with the sample's HTTP rows served) -> stats and SQL; returns the summary."""
    from longvid.pipeline.build import BuildConfig, build
    from longvid.catalog.sql import query, render
    from longvid.catalog.stats import render_stats
    from longvid.hico.precompress import PrecompressConfig
    from longvid.hico.run import precompress
    from longvid.sample.make import make_sample
    from longvid.sample.server import serve

    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    port = free_port()
    log(f"[demo] making the sample in {out / 'sample'}")
    make_sample(out / "sample", small=small, port=port)
    recipe = resources.files("longvid.pipelines").joinpath(SCORED_RECIPE)
    with serve(out / "sample" / "http", port=port), resources.as_file(recipe) as recipe_path:
        def run_build(select: str | None) -> dict:
            return build(BuildConfig(sources=list(SOURCES), manifests=out / "sample" / "manifests",
                                     corpus=out / "corpus", media_root=out / "sample" / "media", recipe=recipe_path,
                                     runner=runner, workers=workers, allow_private_hosts=True, select=select, log=log))

        log(f"[demo] building with {SCORED_RECIPE}: tiny CoCa captions, CLIP similarity and motion on the CPU")
        run_build(None)
        log(f"[demo] rebuilding with --select \"{SELECT}\": the shards change, nothing is recomputed")
        summary = run_build(SELECT)
    show(f"== scores and selection\n$ longvid build ... --recipe pipelines/{SCORED_RECIPE} --select \"{SELECT}\"")
    for title, sql in SCORE_QUESTIONS:
        show(f"== {title}\n$ longvid sql {out / 'corpus'} \"{sql}\"\n{render(*query(out / 'corpus', sql))}")
    show(demo_export(out))
    log("[demo] caching HiCo features with the tiny UMT encoder on the CPU")
    precompress(PrecompressConfig(corpus=out / "corpus", encoder="umt-tiny", t_min=8, t_max=64), log=log)
    show(render_stats(out / "corpus"))
    for title, sql in QUESTIONS:
        show(f"== {title}\n$ longvid sql {out / 'corpus'} \"{sql}\"\n{render(*query(out / 'corpus', sql))}")
    show(demo_training(out, log=log))
    return summary


def demo_export(out: Path) -> str:
    """`longvid export llava` of the corpus; its counts and first record as text."""
    import json

    from longvid.export.llava import ExportConfig, export_llava

    summary = export_llava(ExportConfig(corpus=out / "corpus", out=out / "export" / "longvid.json"))
    first = json.loads((out / "export" / "longvid.json").read_text())[0]
    return (f"== LLaVA / VideoChat-Flash export\n$ longvid export llava {out / 'corpus'} -o {out / 'export' / 'longvid.json'}\n"
            f"{json.dumps(summary, indent=1)}\nfirst record: {json.dumps(first, ensure_ascii=False)}")


def demo_training(out: Path, *, log: Callable[[str], None] = print) -> str:
    """A few steps of the tiny LLM on the corpus's feature cache; the per-step losses as text."""
    import json

    from longvid_trainer.config import TrainConfig
    from longvid_trainer.launch import train

    run = out / "train"
    log(f"[demo] training the tiny LLM for {TRAIN_STEPS} steps from the feature cache (no video decoded)")
    summary = train(TrainConfig(corpus=out / "corpus", out=run, llm="tiny", steps=TRAIN_STEPS), log=log)
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = "\n".join(f"step {m['step']:>2}  loss {m['loss']:.4f}  ({m['samples']} samples, "
                        f"{m['sequence_tokens']} tokens)" for m in lines)
    return (f"== training the tiny LLM from the feature cache\n$ longvid train {out / 'corpus'} --llm tiny "
            f"--steps {TRAIN_STEPS} --out {run}\n{losses}\nprojector: {summary['projector']}")
