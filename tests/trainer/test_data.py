"""Training items from the corpus's captions and from a VideoChat-Flash data-mix YAML, matched to cached
samples by video path or id and start/end; what cannot be matched is listed with its reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from longvid_trainer.annotations import annotation_items, apply_sampling
from longvid_trainer.cache_index import load_cache_index
from longvid_trainer.items import SUMMARY, TIMELINE, corpus_items


@pytest.fixture(scope="module")
def index(feature_corpus: Path):
    return load_cache_index(feature_corpus)


def test_corpus_conversations(index) -> None:
    items, skipped = corpus_items(index)
    by_key = {}
    for item in items:
        by_key.setdefault(item.key, []).append(item)
    long_samples = [s for s in index.by_key.values() if s.kind == "long"]
    assert long_samples
    for s in long_samples:  # a timeline of the timed captions, in time order, with seconds
        timelines = [i for i in by_key[s.key] if TIMELINE in i.turns[0][1]]
        assert len(timelines) == 1
        lines = timelines[0].turns[1][1].splitlines()
        timed = [c for c in s.captions if c["kind"] in ("narration", "asr")]
        assert len(lines) == len(timed) and all(" seconds, " in line for line in lines)
        starts = [float(line.split(" ")[0]) for line in lines]
        assert starts == sorted(starts)
    assert any(SUMMARY in i.turns[0][1] for i in items)
    # every cached sample is either used or reported (hdvila clips carry no text)
    assert set(by_key) | {s["key"] for s in skipped} == set(index.by_key)
    assert skipped and all(s["reason"] == "no_text" and s["key"].startswith("hdvila") for s in skipped)
    assert all(i.turns[0][1].startswith("<image>\n") and i.modality_length() > 0 for i in items)


def test_sampling_strategies() -> None:
    records = list(range(10))
    assert apply_sampling(records, "all") == records
    assert apply_sampling(records, "first:3") == [0, 1, 2]
    assert apply_sampling(records, "first:25%") == [0, 1, 2]  # rounds up, as theirs
    assert apply_sampling(records, "end:2") == [8, 9]
    assert apply_sampling(records, "first2:3") == [3, 4, 5]
    with pytest.raises(ValueError, match="sampling_strategy"):
        apply_sampling(records, "random:3")


def test_data_mix_matching(index, tmp_path: Path) -> None:
    ego = next(s for s in index.by_key.values() if s.source == "ego4d")
    mira = sorted((s for s in index.by_key.values() if s.source == "miradata"), key=lambda s: (s.video_uid, s.start))
    part = mira[1] if mira[1].video_uid == mira[0].video_uid else mira[0]
    media = {s.key: next(n for n in s.names if n.endswith(".mp4") and "/" in n) for s in (ego, part)}
    qa = [
        {"id": "q0", "video": "ego/" + Path(media[ego.key]).name,
         "conversations": [{"from": "human", "value": "<image>\nWhat is C doing?"}, {"from": "gpt", "value": "Cooking."}]},
        {"id": "q1", "video": media[part.key], "start": part.start, "end": part.end,
         "conversations": [{"from": "human", "value": "<image>\nWhat is shown?"}, {"from": "gpt", "value": "A game."}]},
        {"id": "q2", "video": media[part.key],  # a partial sample, no range: not the whole video
         "conversations": [{"from": "human", "value": "<image>\nAnd here?"}, {"from": "gpt", "value": "No."}]},
        {"id": "q3", "video": "nowhere/missing.mp4",
         "conversations": [{"from": "human", "value": "<image>\n?"}, {"from": "gpt", "value": "?"}]},
        {"id": "q4", "conversations": [{"from": "human", "value": "Say hi."}, {"from": "gpt", "value": "Hi."}]},
        {"id": "q5", "image": "a.jpg", "conversations": [{"from": "human", "value": "<image>\n?"}, {"from": "gpt", "value": "?"}]},
        {"id": "q6", "video": media[part.key], "start": 999.0, "end": 1000.0,
         "conversations": [{"from": "human", "value": "<image>\n?"}, {"from": "gpt", "value": "?"}]},
        {"id": "q7", "video": "x.mp4", "conversations": []},
    ]
    (tmp_path / "anno").mkdir()
    (tmp_path / "anno" / "qa.json").write_text(json.dumps(qa))
    (tmp_path / "anno" / "more.jsonl").write_text("".join(json.dumps(r) + "\n" for r in qa[:4]))
    mix = tmp_path / "mix.yaml"
    mix.write_text(yaml.safe_dump({"datasets": [
        {"json_path": "anno/qa.json", "sampling_strategy": "all", "data_root": "/data/videos"},
        {"json_path": str(tmp_path / "anno" / "more.jsonl"), "sampling_strategy": "first:50%", "data_root": ""},
    ]}))
    items, unmatched = annotation_items(mix, index)
    assert [(i.origin, i.key) for i in items] == [
        ("qa.json:0", ego.key), ("qa.json:1", part.key), ("qa.json:4", None), ("more.jsonl:0", ego.key),
        ("more.jsonl:1", part.key)]
    reasons = {(u["json_path"].rsplit("/", 1)[-1], u["index"]): u["reason"] for u in unmatched}
    assert reasons == {("qa.json", 2): "no_cached_range", ("qa.json", 3): "no_cached_video",
                       ("qa.json", 5): "image_not_cached", ("qa.json", 6): "no_cached_range", ("qa.json", 7): "bad_record"}
    assert items[2].modality_length() < 0  # text only


def test_bad_mix_is_a_clear_error(index, tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("datasets: [{sampling_strategy: all}]\n")
    with pytest.raises(ValueError, match="json_path"):
        annotation_items(tmp_path / "m.yaml", index)
    with pytest.raises(FileNotFoundError):
        annotation_items(tmp_path / "absent.yaml", index)
