"""The model stages in a build of the self-made sample, tiny models on the CPU: every sample's scores in
the catalog, generated captions and checked LongVid QA through a loopback OpenAI-protocol server,
embeddings and near-duplicates; a `--select` over the scores rewrites the shards, says why in
`filtered`, and neither decodes, runs a model nor asks the endpoint again."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest
import yaml

from longvid.catalog.sql import query
from longvid.enrich.frames import shared_frames
from longvid.pipeline.build import BuildConfig, build
from tests.pipeline.conftest import SOURCES, WORKERS, SampleInfo, clip_keys, offline, read_webdataset, write_recipe
from tests.support.chat_server import chat_server

pytest.importorskip("open_clip")

SCORES = {"clip_sim", "clip_sim_min", "motion", "motion_max"}
EVENT = re.compile(r"^(\d+(?:\.\d+)?)(?: - (\d+(?:\.\d+)?))? seconds, (.+)$", re.MULTILINE)


def vlm(body: dict[str, Any]) -> str:
    """Captions for frame requests; for QA requests, the first timeline event as a grounded pair (which
    the counting check rejects: no number)."""
    content = body["messages"][-1]["content"]
    if isinstance(content, list):
        return f"A synthetic test pattern seen in {len(content) - 1} frames."
    start, end, text = EVENT.search(content.split("Timeline:\n", 1)[1]).groups()
    end = end or start
    return json.dumps([{"question": f"When does this happen: {text}?", "answer": text, "start": float(start),
                        "end": float(end)}])


@pytest.fixture(scope="module")
def scored(sample: SampleInfo, tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("scored")
    with chat_server(vlm) as srv:
        chat = {"endpoint": srv.base_url, "model": "test-vlm", "concurrency": 2, "backoff": 0.001, "timeout": 10}
        recipe = write_recipe(root / "recipe.yaml", fetch={"timeout": 5, "retries": 1, "backoff": 0.01},
                              shards={"max_samples": 5}, before_write=[
                                  {"name": "frames", "count": 4, "max_side": 128},
                                  {"name": "coca_caption", "model": "tiny", "max_tokens": 6},
                                  {"name": "vlm_caption", **chat, "images": 2},
                                  {"name": "clip_score", "model": "tiny"},
                                  {"name": "motion"},
                                  {"name": "longvid_qa", **chat, "kinds": ["temporal_grounding", "counting"], "pairs": 1}])
        data = yaml.safe_load(recipe.read_text())
        data["stages"].append({"name": "near_dup", "threshold": 0.999})
        recipe.write_text(yaml.safe_dump(data, sort_keys=False))
        corpus = root / "corpus"

        def run(select: str | None = None, media_root: Path = sample.media) -> dict[str, Any]:
            with offline():
                return build(BuildConfig(sources=SOURCES, manifests=sample.manifests, corpus=corpus,
                                         media_root=media_root, recipe=recipe, runner="local", workers=WORKERS,
                                         allow_private_hosts=True, select=select))

        decodes = shared_frames().decodes
        summary = run()
        summary["decodes"] = shared_frames().decodes - decodes
        yield corpus, summary, run, srv


def test_every_sample_has_its_scores_in_the_catalog(scored) -> None:
    corpus, summary, _, _ = scored
    columns, rows = query(corpus, "SELECT key, map_keys(scores), scores['clip_sim'], scores['motion'] FROM clips")
    assert rows and all(set(keys) == SCORES for _, keys, _, _ in rows)
    assert all(-1 <= clip <= 1 and 0 <= motion <= 1 for _, _, clip, motion in rows)
    for stage in ("frames", "coca_caption", "vlm_caption", "clip_score", "motion", "longvid_qa", "near_dup"):
        assert stage in summary["stages"], stage
    # one decode per sample, shared by the four frame stages after `frames` (local runner: this process)
    assert summary["decodes"] == summary["stages"]["frames"]["in"] == len(rows)
    # generated captions from both captioners, in the catalog and in the shards' .json
    origins = {o for o, in query(corpus, "SELECT DISTINCT c.origin FROM clips, unnest(captions) AS t(c) "
                                         "WHERE c.kind = 'generated'")[1]}
    assert origins == {"coca:tiny", "vlm:test-vlm"}
    docs = {s["__key__"]: json.loads(s["json"]) for s in read_webdataset(corpus)}
    assert all(sum(c["kind"] == "generated" for c in d["captions"]) == 2 for d in docs.values())
    # embeddings kept, one per sample; the duplicates table points at kept samples
    n, dim = query(corpus, "SELECT count(*), min(len(image)) FROM embeddings")[1][0]
    assert n == len(rows) and dim == 32
    dups = query(corpus, "SELECT key, duplicate_of FROM duplicates")[1]
    assert not {k for k, _ in dups} & {d for _, d in dups}


def test_longvid_qa_kept_and_rejected_with_reasons(scored) -> None:
    corpus, _, _, _ = scored
    qa = query(corpus, "SELECT key, q.kind, q.start, q.\"end\", duration FROM clips, unnest(qa) AS t(q)")[1]
    assert qa and {kind for _, kind, _, _, _ in qa} == {"temporal_grounding"}
    assert all(0 <= s <= e <= d for _, _, s, e, d in qa)
    long_keys = {k for k, in query(corpus, "SELECT key FROM clips WHERE kind = 'long' AND n_captions >= 3")[1]}
    assert {k for k, *_ in qa} <= long_keys and qa
    rejected = query(corpus, "SELECT detail FROM errors WHERE stage = 'longvid_qa' AND cause = 'qa_rejected'")[1]
    assert rejected and all(d.startswith("count_outside (counting)") for d, in rejected)


def test_select_over_scores_rewrites_shards_and_asks_nothing_again(scored, tmp_path: Path) -> None:
    corpus, _, run, srv = scored
    everything = clip_keys(corpus)
    motion = dict(query(corpus, "SELECT key, scores['motion'] FROM clips")[1])
    cut = statistics.median(motion.values())
    asked = sum(srv.received.values())
    empty = tmp_path / "no-media"
    empty.mkdir()
    summary = run(f"motion > {cut}", media_root=empty)
    kept = clip_keys(corpus)
    assert kept == sorted(k for k, m in motion.items() if m > cut) and 0 < len(kept) < len(everything)
    reasons = dict(query(corpus, "SELECT key, reason FROM filtered WHERE stage = 'select'")[1])
    assert set(reasons) == set(everything) - set(kept) and set(reasons.values()) == {"not selected"}
    assert dict(query(corpus, "SELECT key, scores['motion'] FROM filtered")[1]) == {k: motion[k] for k in reasons}
    assert sum(srv.received.values()) == asked  # no request sent again
    assert not {"frames", "clip_score", "motion", "coca_caption", "vlm_caption", "longvid_qa"} & set(summary["stages"])
    # the near_dup table of the last build can be named in the predicate
    run("key NOT IN (SELECT key FROM duplicates)", media_root=empty)
    dups = {k for k, in query(corpus, "SELECT key FROM duplicates")[1]}
    assert clip_keys(corpus) == sorted(set(everything) - dups)


def test_scenes_segment_sources_without_spans(sample: SampleInfo, tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path / "recipe.yaml", before_write=[])
    data = yaml.safe_load(recipe.read_text())
    names = [s["name"] if isinstance(s, dict) else s for s in data["stages"]]
    data["stages"].insert(names.index("segment"), {"name": "scenes", "threshold": 0.3, "min_seconds": 0.5})
    segment = next(s for s in data["stages"] if isinstance(s, dict) and s.get("name") == "segment")
    segment["modes"]["webvid"] = {"mode": "scenes"}
    recipe.write_text(yaml.safe_dump(data, sort_keys=False))
    corpus = tmp_path / "corpus"
    with offline():
        summary = build(BuildConfig(sources=["webvid"], manifests=sample.manifests, corpus=corpus, media_root=sample.media,
                                    recipe=recipe, runner="local", workers=WORKERS, allow_private_hosts=True))
    assert summary["stages"]["scenes"]["in"] > 0
    rows = query(corpus, "SELECT mode, start, \"end\", duration FROM clips")[1]
    assert rows and {m for m, *_ in rows} == {"scenes"}


def test_export_carries_generated_captions_and_qa_with_timestamps(scored, tmp_path: Path) -> None:
    from longvid.export.llava import ExportConfig, check_record, export_llava

    corpus, _, _, _ = scored
    out = tmp_path / "scored.jsonl"
    export_llava(ExportConfig(corpus=corpus, out=out))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    for r in records:
        check_record(r)
    qa = [r for r in records if "qa_kind" in r]
    assert qa and all(r["qa_kind"] == "temporal_grounding" and 0 <= r["timestamps"][0] <= r["timestamps"][1] <= r["duration"]
                      for r in qa)
    assert any(r["conversations"][1]["value"] == "A synthetic test pattern seen in 2 frames." for r in records)


@pytest.mark.parametrize("scores, verdict", [
    ({"clip_sim": 0.3, "motion": 0.01}, True),
    ({"clip_sim": 0.1, "motion": 0.01}, (False, "clip_sim below 0.2")),
    ({"clip_sim": 0.3, "motion": 0.9}, (False, "motion above 0.5")),
    ({"motion": 0.01}, (False, "no clip_sim score")),
])
def test_score_range_filter(scores: dict[str, float], verdict: Any) -> None:
    from longvid.pipeline.stages.score_range import STAGE, keep

    assert keep({"scores": scores}, min={"clip_sim": 0.2}, max={"motion": 0.5}) == verdict
    assert STAGE.drops and set(STAGE.params) == {"min", "max"}


def test_the_shipped_scored_recipe_loads() -> None:
    from longvid.pipeline.recipe import load_recipe

    recipe = load_recipe(Path(__file__).resolve().parents[2] / "pipelines" / "longvid-scored.yaml")
    names = [s.name for s in recipe.steps()]
    assert names[-2:] == ["write", "near_dup"] and {"frames", "clip_score", "motion", "coca_caption"} <= set(names)
    links = {s.resources for s in recipe.steps("video") if s.name in ("frames", "clip_score", "motion", "coca_caption")}
    assert len(links) == 1  # one task: one decode per sample
