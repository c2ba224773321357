"""`longvid precompress` on a small real corpus, with tiny encoders on the CPU."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from longvid.pipeline.build import BuildConfig, build  # noqa: E402
from longvid.catalog.sql import query  # noqa: E402
from longvid.cli.main import app  # noqa: E402
from longvid.hico.dataset import FeatureDataset, feature_shards  # noqa: E402
from longvid.hico.decode import read_frames, video_info  # noqa: E402
from longvid.hico.encoders import build_encoder  # noqa: E402
from longvid.hico.merge import merge_clip_tokens  # noqa: E402
from longvid.hico.cache import load_features  # noqa: E402
from longvid.hico.precompress import PrecompressConfig  # noqa: E402
from longvid.hico.preprocess import preprocess_frames  # noqa: E402
from longvid.hico.run import precompress  # noqa: E402
from longvid.hico.sampling import SamplingConfig  # noqa: E402
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
                      media_root=root / "sample" / "media", recipe=recipe, runner="local", workers=2,
                      allow_private_hosts=True))
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
    tars = feature_shards(corpus, cached["encoder_tag"])
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


def direct_encode_and_merge(corpus: Path, tmp_path: Path, tag: str, merge_dtype: torch.dtype, n: int = 2
                            ) -> list[tuple[str, dict, torch.Tensor, torch.Tensor]]:
    """(key, stored features, tokens, sizes) of the first `n` samples of the first shard, encoded in
    memory with the CPU's float32 umt-tiny and merged in `merge_dtype`."""
    encoder = build_encoder("umt-tiny", None, 224)
    tar = sorted((corpus / "shards").glob("*.tar"))[0]
    stored = {s["__key__"]: load_features(s["hico.safetensors"]) for s in iter_shard(feature_shards(corpus, tag)[0])}
    out = []
    for sample in list(iter_shard(tar))[:n]:
        video = tmp_path / f"{sample['__key__']}.mp4"
        video.write_bytes(sample["mp4"])
        vlen, fps = video_info(video)
        indices = SamplingConfig(t_min=T_MIN, t_max=T_MAX).indices(vlen, fps)
        assert stored[sample["__key__"]]["frame_indices"].tolist() == indices
        pixels = preprocess_frames(read_frames(video, indices), 224, mean=encoder.mean, std=encoder.std)
        features = encoder.encode(pixels)
        assert features.dtype == torch.float32
        tokens, sizes = merge_clip_tokens(features, target=64, groups=encoder.metric_groups, dtype=merge_dtype)
        out.append((sample["__key__"], stored[sample["__key__"]], tokens, sizes))
    return out


def test_parity_with_direct_encode_and_merge(corpus: Path, cached: dict, tmp_path: Path) -> None:
    """On the CPU `auto` merges in float32, the encoder's dtype: the cache holds exactly the
    in-memory float32 merge, rounded to bf16 for storage."""
    assert "-fp32-mfp32-" in cached["encoder_tag"]
    for _, stored, tokens, sizes in direct_encode_and_merge(corpus, tmp_path, cached["encoder_tag"], torch.float32):
        assert tokens.dtype == torch.float32
        assert torch.equal(tokens.to(torch.bfloat16), stored["tokens"])
        assert torch.equal(sizes.to(torch.int32), stored["sizes"])


def test_bf16_merge_parity_and_its_own_cache(corpus: Path, cached: dict, tmp_path: Path) -> None:
    """--merge-dtype bf16 caches exactly the in-memory bf16 merge, in a cache of its own; its
    tokens are not the float32 merge's."""
    summary = precompress(PrecompressConfig(corpus=corpus, encoder="umt-tiny", t_min=T_MIN, t_max=T_MAX,
                                            merge_dtype="bf16"))
    tag = summary["encoder_tag"]
    assert "-fp32-mbf16-" in tag and tag != cached["encoder_tag"] and summary["samples"] == cached["samples"]
    fp32 = {s["__key__"]: load_features(s["hico.safetensors"])
            for s in iter_shard(feature_shards(corpus, cached["encoder_tag"])[0])}
    differ = 0
    for key, stored, tokens, sizes in direct_encode_and_merge(corpus, tmp_path, tag, torch.bfloat16):
        assert tokens.dtype == torch.bfloat16
        assert torch.equal(tokens, stored["tokens"])
        assert torch.equal(sizes.to(torch.int32), stored["sizes"])
        differ += int((tokens != fp32[key]["tokens"]).any(dim=-1).sum())
    assert differ > 0


def test_resume_skips_and_new_config_gets_new_cache(corpus: Path, cached: dict) -> None:
    tars = feature_shards(corpus, cached["encoder_tag"])
    before = {p: p.stat().st_mtime_ns for p in tars}
    again = precompress(PrecompressConfig(corpus=corpus, encoder="umt-tiny", t_min=T_MIN, t_max=T_MAX))
    assert again["encoder_tag"] == cached["encoder_tag"]
    assert {p: p.stat().st_mtime_ns for p in tars} == before
    other = precompress(PrecompressConfig(corpus=corpus, encoder="umt-tiny", t_min=4, t_max=8))
    assert other["encoder_tag"] != cached["encoder_tag"]
    _, rows = query(corpus, "SELECT encoder_tag, count(DISTINCT config_hash), max(frames) FROM features "
                            f"WHERE encoder_tag IN ('{cached['encoder_tag']}', '{other['encoder_tag']}') GROUP BY 1 ORDER BY 3")
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


def test_cpu_float32_and_bf16_runs_land_in_different_caches(corpus: Path, cached: dict) -> None:
    """A CPU run (float32 encoder, float32 merge) and a GPU-like run (bf16 encoder, bf16 merge:
    what `--gpus` writes with `auto`) with the same weights and sampling never share a cache."""
    gpu_like = precompress(PrecompressConfig(corpus=corpus, encoder="umt-tiny", t_min=T_MIN, t_max=T_MAX,
                                             encoder_dtype="bf16"))
    cpu = cached["encoder_tag"]
    bf16 = gpu_like["encoder_tag"]
    assert cpu != bf16 and "-fp32-mfp32-" in cpu and "-bf16-mbf16-" in bf16
    assert cpu.split("-w")[1] == bf16.split("-w")[1]  # same weights and sampling hashes
    assert feature_shards(corpus, cpu) != feature_shards(corpus, bf16)
    _, rows = query(corpus, "SELECT encoder_dtype, merge_dtype, count(*) FROM features "
                            f"WHERE encoder_tag IN ('{cpu}', '{bf16}') GROUP BY ALL ORDER BY 1")
    assert rows == [("bf16", "bf16", cached["samples"]), ("fp32", "fp32", cached["samples"])]
    a = {s["__key__"]: load_features(s["hico.safetensors"])["tokens"] for t in feature_shards(corpus, cpu) for s in iter_shard(t)}
    b = {s["__key__"]: load_features(s["hico.safetensors"])["tokens"] for t in feature_shards(corpus, bf16) for s in iter_shard(t)}
    assert a.keys() == b.keys() and any(not torch.equal(a[k], b[k]) for k in a)


def test_sampler_and_grid_are_in_the_tag_and_the_features_rows(corpus: Path, cached: dict) -> None:
    """--sampler middle (stage 1: 4 frames) and --fps 1 (the 1-fps frame-folder view) each get a
    cache of their own, and `longvid sql` shows how every cache was sampled."""
    stage1 = precompress(PrecompressConfig(corpus=corpus, encoder="umt-tiny", sampler="middle", t_max=4, fps=1))
    folder = precompress(PrecompressConfig(corpus=corpus, encoder="umt-tiny", t_min=T_MIN, t_max=T_MAX, fps=1))
    assert len({stage1["encoder_tag"], folder["encoder_tag"], cached["encoder_tag"]}) == 3
    _, rows = query(corpus, "SELECT DISTINCT encoder_tag, sampler, sample_fps, t_min, t_max, min(frames), max(frames) "
                            f"FROM features WHERE encoder_tag IN ('{stage1['encoder_tag']}', '{folder['encoder_tag']}', "
                            f"'{cached['encoder_tag']}') GROUP BY ALL ORDER BY 2, 3 NULLS FIRST")
    by_tag = {r[0]: r[1:] for r in rows}
    assert by_tag[cached["encoder_tag"]][:4] == ("dynamic_fps1", None, T_MIN, T_MAX)
    assert by_tag[folder["encoder_tag"]][:4] == ("dynamic_fps1", 1.0, T_MIN, T_MAX)
    assert by_tag[stage1["encoder_tag"]] == ("middle", 1.0, 1, 4, 4, 4)
    # the 1-fps view: frames and time prompt from the grid, indices into the video (hico-spec §9.2)
    for tar in feature_shards(corpus, folder["encoder_tag"]):
        for sample in iter_shard(tar):
            meta = json.loads(sample["json"])
            cfg = SamplingConfig(t_min=T_MIN, t_max=T_MAX, fps=1)
            n = round(meta["vlen"] / meta["fps"])  # FFmpeg-made clips of whole-ish seconds
            assert meta["grid_frames"] == cfg.grid(meta["vlen"], meta["fps"])[0] and abs(meta["grid_frames"] - n) <= 1
            assert meta["duration"] == meta["grid_frames"] and meta["grid_fps"] == 1.0
            assert load_features(sample["hico.safetensors"])["frame_indices"].tolist() == cfg.indices(meta["vlen"], meta["fps"])
            assert meta["time_prompt"].startswith(f"\nThe video lasts for {meta['grid_frames']:.2f} seconds, and {meta['frames']} frames")


def test_decode_failures_get_their_cause(corpus: Path, tmp_path: Path) -> None:
    """Each way a sample's video can fail becomes a Failed with its cause, never an exception."""
    from longvid.hico.precompress import Failed, ShardEncoder
    from longvid.media.ffmpeg import run_ffmpeg

    good = next(iter(iter_shard(sorted((corpus / "shards").glob("*.tar"))[0])))
    faststart = tmp_path / "faststart.mp4"  # index first: a cut-off copy still opens
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=8", "-c:v", "libx264", "-g", "25",
                "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(faststart)])
    tiny = tmp_path / "tiny.mp4"  # 0.3 s: no frame on a 1-fps grid
    run_ffmpeg(["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-frames:v", "3", "-c:v", "libx264",
                "-pix_fmt", "yuv420p", str(tiny)])
    worker = ShardEncoder(PrecompressConfig(corpus=corpus, encoder="umt-tiny", t_min=T_MIN, t_max=T_MAX, fps=1))
    cases = {
        "not_video": {"json": good["json"], "mp4": bytes(range(256)) * 64},
        "decode_failed": {"json": good["json"], "mp4": faststart.read_bytes()[: faststart.stat().st_size // 2]},
        "too_short": {"json": good["json"], "mp4": tiny.read_bytes()},
        "stage_error": {"json": b"{not json", "mp4": good["mp4"]},
    }
    for cause, members in cases.items():
        got = worker.decode("k", members)
        assert isinstance(got, Failed) and got.cause == cause, (cause, got)
    assert not isinstance(worker.decode("k", good), Failed)


def same_features(a: dict, b: dict) -> bool:
    """Two feature-shard samples agree: the same .json, frame indices and sizes, tokens equal up
    to float rounding."""
    fa, fb = load_features(a["hico.safetensors"]), load_features(b["hico.safetensors"])
    return (a["json"] == b["json"] and torch.equal(fa["frame_indices"], fb["frame_indices"])
            and torch.equal(fa["sizes"], fb["sizes"])
            and torch.allclose(fa["tokens"].float(), fb["tokens"].float(), rtol=2e-2, atol=2e-2))


def _replace_mp4s(shard_tar: Path, payload: dict[str, bytes]) -> None:
    """Rewrite a video shard with some samples' mp4 replaced (keys -> new bytes)."""
    from longvid.shards.writer import Sample, write_shard

    samples = []
    for s in iter_shard(shard_tar):
        meta = json.loads(s["json"])
        members = {ext: data for ext, data in s.items() if ext != "__key__"}
        members["mp4"] = payload.get(s["__key__"], members["mp4"])
        samples.append(Sample(s["__key__"], members, meta["duration"], meta["source"], meta["video_uid"]))
    write_shard(shard_tar.parent, shard_tar.name.removesuffix(".tar"), samples)


def test_a_corrupt_video_is_an_error_row_and_the_shard_goes_on(corpus: Path, cached: dict, tmp_path: Path) -> None:
    """One corrupt mp4 in a shard: the others get features, the bad one is one `errors` row
    (stage precompress); a rerun leaves it alone; --retry-failed decodes it again. A shard
    whose every video is bad is finished empty and not redone either."""
    root = tmp_path / "corpus"
    shutil.copytree(corpus / "shards", root / "shards")
    shutil.copytree(corpus / "catalog", root / "catalog", ignore=shutil.ignore_patterns("features", "errors"))
    video_shards = sorted((root / "shards").glob("*.tar"))
    first, last = video_shards[0], video_shards[-1]
    originals = {s["__key__"]: s["mp4"] for t in (first, last) for s in iter_shard(t)}
    first_keys = [s["__key__"] for s in iter_shard(first)]
    last_keys = [s["__key__"] for s in iter_shard(last)]
    bad = first_keys[1]
    _replace_mp4s(first, {bad: originals[bad][: len(originals[bad]) // 3][::-1]})  # garbage in, same name
    _replace_mp4s(last, {k: b"\0" * 1000 for k in last_keys})
    config = PrecompressConfig(corpus=root, encoder="umt-tiny", t_min=T_MIN, t_max=T_MAX, clips_per_batch=3)

    summary = precompress(config)
    tag = summary["encoder_tag"]
    assert tag == cached["encoder_tag"]
    n_bad = 1 + len(last_keys)
    assert summary["failed"] == n_bad and summary["failures"] == {"not_video": n_bad}
    assert summary["samples"] == cached["samples"] - n_bad
    _, rows = query(root, "SELECT stage, cause, locator, file, video_uid IS NOT NULL, source <> '' FROM errors "
                          "WHERE locator = '" + bad + "'")
    assert rows == [("precompress", "not_video", bad, f"shards/{first.name}", True, True)]
    _, missing = query(root, "SELECT key FROM clips ANTI JOIN features USING (key) ORDER BY key")
    assert sorted(k for (k,) in missing) == sorted([bad, *last_keys])
    _, n_errors = query(root, "SELECT count(*) FROM errors WHERE stage = 'precompress'")
    assert n_errors == [(n_bad,)]
    out = root / "features" / tag
    assert (out / last.name).is_file() and list(iter_shard(out / last.name)) == []  # finished, empty
    # the good samples of the first shard hold what the undamaged corpus holds (up to float
    # rounding: the encoder batches differ once a sample is missing)
    ref = {s["__key__"]: s for s in iter_shard(corpus / "features" / tag / first.name)}
    got = {s["__key__"]: s for s in iter_shard(out / first.name)}
    assert got.keys() == ref.keys() - {bad}
    for key in got:
        assert same_features(got[key], ref[key]), key

    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*.tar")}
    again = precompress(config)  # a rerun: nothing redone, the failures stay
    assert (again["failed"], again["samples"]) == (n_bad, summary["samples"])
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.tar")} == mtimes

    _replace_mp4s(first, {bad: originals[bad]})  # the videos are repaired: two new video shards ...
    _replace_mp4s(last, {k: originals[k] for k in last_keys})
    repaired = precompress(config)  # ... whose feature shards are no longer current: redone, and only they
    assert (repaired["failed"], repaired["samples"], repaired["current"]) == (0, cached["samples"], len(video_shards) - 2)
    assert query(root, "SELECT count(*) FROM errors WHERE stage = 'precompress'")[1] == [(0,)]
    assert query(root, "SELECT count(*) FROM clips ANTI JOIN features USING (key)")[1] == [(0,)]
    untouched = [p for p in mtimes if p.name not in (first.name, last.name)]
    assert all(p.stat().st_mtime_ns == mtimes[p] for p in untouched)
    assert all(p.stat().st_mtime_ns != mtimes[p] for p in mtimes if p not in untouched)
    stats = json.loads((out / f"{first.name.removesuffix('.tar')}.stats.json").read_text())
    assert stats["input"] == {"shard": first.name.removesuffix(".tar"),
                              "sha256": json.loads(first.with_suffix(".stats.json").read_text())["sha256"]}


def test_retry_failed_decodes_again_around_the_cached_samples(corpus: Path, cached: dict, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A sample whose decoding failed (here a fault injected into its decode task) stays an error
    row on a plain rerun of the same video shard; --retry-failed decodes it again and rewrites the
    shard around the samples already cached (not encoded again, byte for byte)."""
    from longvid.hico import decode_sample as decoding
    from longvid.hico.decode_sample import Failed

    root = tmp_path / "corpus"
    shutil.copytree(corpus / "shards", root / "shards")
    shutil.copytree(corpus / "catalog", root / "catalog", ignore=shutil.ignore_patterns("features", "errors"))
    first = sorted((root / "shards").glob("*.tar"))[0]
    first_keys = [s["__key__"] for s in iter_shard(first)]
    bad = first_keys[1]
    real = decoding.decode_sample

    def flaky(spec, key, members):  # type: ignore[no-untyped-def]
        return Failed(key, json.loads(members["json"]), "decode_failed", "injected") if key == bad else real(spec, key, members)

    config = PrecompressConfig(corpus=root, encoder="umt-tiny", t_min=T_MIN, t_max=T_MAX, clips_per_batch=3)
    monkeypatch.setattr(decoding, "decode_sample", flaky)
    summary = precompress(config)
    monkeypatch.setattr(decoding, "decode_sample", real)
    assert (summary["failed"], summary["samples"]) == (1, cached["samples"] - 1)
    out = root / "features" / summary["encoder_tag"]
    got = {s["__key__"]: s for s in iter_shard(out / first.name)}
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*.tar")}
    assert precompress(config)["failed"] == 1  # a plain rerun leaves it alone
    assert {p: p.stat().st_mtime_ns for p in out.glob("*.tar")} == mtimes

    retried = precompress(PrecompressConfig(corpus=root, encoder="umt-tiny", t_min=T_MIN, t_max=T_MAX,
                                            retry_failed=True))
    assert (retried["failed"], retried["samples"]) == (0, cached["samples"])
    assert query(root, "SELECT count(*) FROM errors WHERE stage = 'precompress'")[1] == [(0,)]
    stats = json.loads((out / f"{first.name.removesuffix('.tar')}.stats.json").read_text())
    assert stats["reused"] == len(first_keys) - 1 and stats["errors"] == []
    ref = {s["__key__"]: s for s in iter_shard(corpus / "features" / summary["encoder_tag"] / first.name)}
    again_got = {s["__key__"]: s for s in iter_shard(out / first.name)}
    assert list(again_got) == first_keys and all(same_features(again_got[k], ref[k]) for k in again_got)
    assert all(again_got[k] == got[k] for k in got)  # reused as they were, byte for byte
    assert all(p.stat().st_mtime_ns == mtimes[p] for p in mtimes if p.name != first.name)


def test_cli_options_and_one_line_errors(corpus: Path, cached: dict) -> None:
    runner = CliRunner()
    for args in (["--merge-dtype", "fp8"], ["--sampler", "random"], ["--fps", "0"],
                 ["--sampler", "middle", "--t-max", "6"], ["--encoder-dtype", "int8"]):
        result = runner.invoke(app, ["precompress", str(corpus), "--encoder", "umt-tiny", *args])
        assert result.exit_code == 2 and result.output.startswith("error: ") and result.output.count("\n") == 1, \
            (args, result.output)
    ok = runner.invoke(app, ["precompress", str(corpus), "--encoder", "umt-tiny", "--t-min", str(T_MIN),
                             "--t-max", str(T_MAX)])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["encoder_tag"] == cached["encoder_tag"]


def cache_digests(corpus: Path, tag: str) -> dict[str, str]:
    """sha256 of every feature tar and index of a cache (the stats hold timings, so they differ)."""
    import hashlib

    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((corpus / "features" / tag).iterdir())
            if p.suffix in (".tar", ".parquet")}


def test_cache_is_byte_identical_however_decoding_is_split(corpus: Path, tmp_path: Path) -> None:
    """The encoder here, decoding in 1 or 3 threads of this process, or as 1 or 2 decode tasks on a
    local Ray: the same feature shards, byte for byte, in the same order."""
    ray = pytest.importorskip("ray")
    root = tmp_path / "corpus"
    shutil.copytree(corpus / "shards", root / "shards")
    shutil.copytree(corpus / "catalog", root / "catalog", ignore=shutil.ignore_patterns("features", "errors"))
    digests, where = [], []
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:  # one Ray for both task runs (a runner finding Ray started uses it and leaves it up)
        for split in ({"decode_threads": 1}, {"decode_threads": 3}, {"decode_cpus": 1}, {"decode_cpus": 2}):
            summary = precompress(PrecompressConfig(corpus=root, encoder="umt-tiny", t_min=T_MIN, t_max=T_MAX,
                                                    clips_per_batch=3, force=True, **split))
            digests.append(cache_digests(root, summary["encoder_tag"]))
            where.append((summary["decode"]["in_workers"], summary["decode"]["cpus"]))
    finally:
        ray.shutdown()
    assert where == [(True, 0), (True, 0), (False, 1), (False, 2)]
    assert len(digests[0]) >= 4 and all(d == digests[0] for d in digests[1:])


def test_plan_projects_every_decoder_without_encoding(corpus: Path, cached: dict) -> None:
    from longvid.hico.decode import available_decoders

    before = sorted(p.name for p in (corpus / "features").iterdir())
    result = CliRunner().invoke(app, ["precompress", str(corpus), "--encoder", "umt-tiny", "--plan", "--plan-samples",
                                      "2", "--hours", "300000"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert "projected to 300,000.0 hours" in lines[0] and "sampled frames" in lines[0]
    decoders = [d for d in available_decoders() if d != "nvdec"]
    rows = [line.split() for line in lines[2:]]
    assert [(r[0], r[1]) for r in rows] == [("source", d) for d in decoders]
    assert all(float(r[2]) > 0 and float(r[3].replace(",", "")) > 0 for r in rows)  # frames/s/core, core-hours
    assert sorted(p.name for p in (corpus / "features").iterdir()) == before
