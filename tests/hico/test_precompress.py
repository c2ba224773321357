"""`longvid precompress` on a small real corpus, with tiny encoders on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from longvid.build.build import BuildConfig, build  # noqa: E402
from longvid.catalog.sql import query  # noqa: E402
from longvid.hico.dataset import FeatureDataset, feature_shards  # noqa: E402
from longvid.hico.decode import read_frames, video_info  # noqa: E402
from longvid.hico.encoders import build_encoder  # noqa: E402
from longvid.hico.merge import merge_clip_tokens  # noqa: E402
from longvid.hico.precompress import PrecompressConfig, load_features  # noqa: E402
from longvid.hico.preprocess import preprocess_frames  # noqa: E402
from longvid.hico.run import precompress  # noqa: E402
from longvid.sample.make import make_sample  # noqa: E402
from longvid.shards.reader import iter_shard  # noqa: E402

T_MIN, T_MAX = 8, 16


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pre")
    make_sample(root / "sample", small=True, seed=5)
    recipe = root / "recipe.yaml"
    recipe.write_text((Path(__file__).resolve().parents[2] / "pipelines" / "longvid.yaml").read_text()
                      .replace("max_samples: 1000", "max_samples: 4"))
    build(BuildConfig(sources=["webvid", "hdvila"], manifests=root / "sample" / "manifests", corpus=root / "corpus",
                      media_root=root / "sample" / "media", recipe=recipe, runner="local", workers=2))
    return root / "corpus"


@pytest.fixture(scope="module")
def cached(corpus: Path) -> dict:
    return precompress(PrecompressConfig(corpus=corpus, encoder="umt-tiny", t_min=T_MIN, t_max=T_MAX,
                                         clips_per_batch=3, decode_threads=2))


def test_every_sample_has_features_at_16_tokens_per_frame(corpus: Path, cached: dict) -> None:
    _, rows = query(corpus, "SELECT count(*) FROM clips")
    _, feats = query(corpus, "SELECT count(*), sum(tokens) / sum(frames) FROM features")
    assert feats[0][0] == rows[0][0] == cached["samples"] > 0
    assert feats[0][1] == 16.0
    _, missing = query(corpus, "SELECT key FROM clips ANTI JOIN features USING (key)")
    assert missing == []


def test_shapes_and_members(corpus: Path, cached: dict) -> None:
    tars = feature_shards(corpus)
    assert len(tars) == len(list((corpus / "shards").glob("*.tar"))) >= 2
    for tar in tars:
        for sample in iter_shard(tar):
            t = load_features(sample["hico.safetensors"])
            meta = json.loads(sample["json"])
            frames = meta["frames"]
            assert frames % 4 == 0 and T_MIN <= frames <= T_MAX
            assert t["tokens"].dtype == torch.bfloat16 and tuple(t["tokens"].shape) == (frames // 4, 64, 64)
            assert t["sizes"].sum(dim=1).tolist() == [4 * 14 * 14] * (frames // 4)
            assert t["frame_indices"].tolist() == sorted(t["frame_indices"].tolist())
            assert meta["time_prompt"] == f"\nThe video lasts for {meta['duration']:.2f} seconds, and {frames} frames are uniformly sampled from it. "


def test_parity_with_direct_encode_and_merge(corpus: Path, cached: dict, tmp_path: Path) -> None:
    encoder = build_encoder("umt-tiny", None, 224)
    tar = sorted((corpus / "shards").glob("*.tar"))[0]
    stored = {s["__key__"]: load_features(s["hico.safetensors"]) for s in iter_shard(feature_shards(corpus)[0])}
    for sample in list(iter_shard(tar))[:2]:
        video = tmp_path / f"{sample['__key__']}.mp4"
        video.write_bytes(sample["mp4"])
        vlen, fps = video_info(video)
        indices = stored[sample["__key__"]]["frame_indices"].tolist()
        pixels = preprocess_frames(read_frames(video, indices), 224, mean=encoder.mean, std=encoder.std)
        tokens, sizes = merge_clip_tokens(encoder.encode(pixels).float(), target=64, groups=encoder.metric_groups)
        assert torch.equal(tokens.to(torch.bfloat16), stored[sample["__key__"]]["tokens"])
        assert torch.equal(sizes.to(torch.int32), stored[sample["__key__"]]["sizes"])


def test_resume_skips_and_new_config_gets_new_cache(corpus: Path, cached: dict) -> None:
    tars = feature_shards(corpus, cached["encoder_tag"])
    before = {p: p.stat().st_mtime_ns for p in tars}
    again = precompress(PrecompressConfig(corpus=corpus, encoder="umt-tiny", t_min=T_MIN, t_max=T_MAX))
    assert again["encoder_tag"] == cached["encoder_tag"]
    assert {p: p.stat().st_mtime_ns for p in tars} == before
    other = precompress(PrecompressConfig(corpus=corpus, encoder="umt-tiny", t_min=4, t_max=8))
    assert other["encoder_tag"] != cached["encoder_tag"]
    _, rows = query(corpus, "SELECT encoder_tag, count(DISTINCT config_hash), max(frames) FROM features GROUP BY 1 ORDER BY 3")
    assert len(rows) == 2 and all(r[1] == 1 for r in rows) and rows[0][2] <= 8


def test_open_clip_tiny_per_frame_tower(corpus: Path, cached: dict) -> None:
    pytest.importorskip("open_clip")
    summary = precompress(PrecompressConfig(corpus=corpus, encoder="open_clip:tiny", t_min=4, t_max=8))
    _, rows = query(corpus, f"SELECT sum(tokens) / sum(frames) FROM features WHERE encoder_tag = '{summary['encoder_tag']}'")
    assert rows == [(16.0,)]


def test_feature_dataset_splits_ranks_without_touching_video(corpus: Path, cached: dict) -> None:
    shards = feature_shards(corpus, cached["encoder_tag"])
    everything = [s["key"] for s in FeatureDataset(shards)]
    assert len(everything) == len(set(everything)) == cached["samples"]
    parts = [[s["key"] for s in FeatureDataset(shards, rank=r, world_size=2)] for r in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(everything) and not set(parts[0]) & set(parts[1])
    shuffled = [s["key"] for s in FeatureDataset(shards, shuffle_buffer=3, seed=1)]
    assert sorted(shuffled) == sorted(everything)
    loader = torch.utils.data.DataLoader(FeatureDataset(shards), num_workers=2, batch_size=None)
    assert sorted(s["key"] for s in loader) == sorted(everything)


def test_ray_actor_path_matches_in_process(corpus: Path, cached: dict) -> None:
    """The path GPUs take (one Ray actor per device) run with a CPU actor: same samples, same frames,
    tokens equal to the in-process run's up to float rounding."""
    pytest.importorskip("ray")
    tag = cached["encoder_tag"]
    before = {s["__key__"]: load_features(s["hico.safetensors"]) for t in feature_shards(corpus, tag) for s in iter_shard(t)}
    again = precompress(PrecompressConfig(corpus=corpus, encoder="umt-tiny", t_min=T_MIN, t_max=T_MAX,
                                          cpu_actors=1, decode_threads=1, force=True))
    assert again["encoder_tag"] == tag and again["samples"] == cached["samples"]
    after = {s["__key__"]: load_features(s["hico.safetensors"]) for t in feature_shards(corpus, tag) for s in iter_shard(t)}
    assert after.keys() == before.keys()
    for key, t in after.items():
        assert torch.equal(t["frame_indices"], before[key]["frame_indices"])
        assert t["tokens"].shape == before[key]["tokens"].shape
        assert torch.allclose(t["tokens"].float(), before[key]["tokens"].float(), rtol=2e-2, atol=2e-2)
