"""Shards: plan, write, read back three ways (own reader, webdataset, wids), resume, refuse."""

from __future__ import annotations

import importlib
import io
import itertools
import json
import random
import tarfile
import types
from pathlib import Path

import pytest

from longvid.keys import sample_key
from longvid.shards.plan import plan_shards, shard_name
from longvid.shards.reader import iter_shard, read_index, read_sample, wids_shardlist, write_wids_index
from longvid.shards.writer import Sample, clean_partial, read_stats, shard_done, write_shard

MAX_BYTES, MAX_COUNT = 9000, 3


def make_samples(root: Path) -> list[Sample]:
    """Seven samples with small random payloads; one mp4 is a real file, one sample has a txt."""
    rng = random.Random(7)
    video = root / "inputs" / "clip.mp4"
    video.parent.mkdir(parents=True, exist_ok=True)
    video.write_bytes(rng.randbytes(5000))  # not a multiple of 512: exercises padding
    samples = []
    for i in range(7):
        source = "ego4d" if i % 2 else "webvid"
        key = sample_key(source, f"vid.{i}", 1.5 * i, 1.5 * i + 4)
        meta = json.dumps({"key": key, "caption": f"clip {i} \u00e9"}).encode()
        members: dict[str, bytes | Path] = {"json": meta, "mp4": rng.randbytes(rng.randint(0, 3000))}
        if i == 3:
            members["mp4"] = video
        if i == 5:
            members["txt"] = b"a timeline"
        samples.append(Sample(key, members, duration=4.0, source=source, video_uid=f"{source}/vid.{i}"))
    return sorted(samples, key=lambda s: s.key)


def sample_bytes(s: Sample) -> dict[str, bytes]:
    return {ext: v.read_bytes() if isinstance(v, Path) else v for ext, v in s.members.items()}


def write_corpus(root: Path, shard_dir: Path) -> tuple[list[str], list[Sample]]:
    samples = make_samples(root)
    by_key = {s.key: s for s in samples}
    sizes = [(s.key, sum(len(b) for b in sample_bytes(s).values())) for s in samples]
    names = []
    for i, keys in enumerate(plan_shards(sizes, MAX_BYTES, MAX_COUNT)):
        name = shard_name("test", i)
        stats = write_shard(shard_dir, name, (by_key[k] for k in keys), extra_stats={"recipe": "unit"})
        assert stats is not None and stats.samples == len(keys)
        names.append(name)
    return names, samples


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[Sample]]:
    root = tmp_path_factory.mktemp("corpus")
    names, samples = write_corpus(root, root / "shards")
    return root / "shards", names, samples


def expected(samples: list[Sample]) -> list[dict]:
    return [{"__key__": s.key, **sample_bytes(s)} for s in samples]


def test_layout_and_stats(corpus):
    shard_dir, names, samples = corpus
    assert len(names) >= 3
    assert sorted(p.name for p in shard_dir.iterdir()) == sorted(
        f"{n}{suffix}" for n in names for suffix in (".tar", ".parquet", ".stats.json")
    )
    total = 0
    for name in names:
        assert shard_done(shard_dir, name)
        stats = read_stats(shard_dir, name)
        assert stats["shard"] == name and stats["recipe"] == "unit"
        assert stats["bytes"] == (shard_dir / f"{name}.tar").stat().st_size
        assert stats["duration"] == 4.0 * stats["samples"]
        assert sum(stats["sources"].values()) == stats["samples"] <= MAX_COUNT
        total += stats["samples"]
    assert total == len(samples)


def test_tar_headers_are_plain_ustar(corpus):
    shard_dir, names, _ = corpus
    with tarfile.open(shard_dir / f"{names[0]}.tar") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)  # keys sorted, exts sorted
    for m in members:
        assert (m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode, m.type) == (0, 0, 0, "", "", 0o644, tarfile.REGTYPE)
        assert not m.pax_headers
    raw = (shard_dir / f"{names[0]}.tar").read_bytes()
    assert raw[257:265] == b"ustar\x0000" and len(raw) % 10240 == 0


def test_iter_shard_reads_what_was_written(corpus):
    shard_dir, names, samples = corpus
    got = [s for n in names for s in iter_shard(shard_dir / f"{n}.tar")]
    assert got == expected(samples)


def test_webdataset_reads_what_was_written(corpus):
    import webdataset as wds

    shard_dir, names, samples = corpus
    ds = wds.WebDataset([str(shard_dir / f"{n}.tar") for n in names], shardshuffle=False)
    got = [{k: v for k, v in s.items() if k not in ("__url__", "__local_path__")} for s in ds]
    assert got == expected(samples)


def import_wids() -> types.ModuleType:
    """wids 0.1.11 imports torch at module level; torch is a test dependency (the hico extra)."""
    pytest.importorskip("torch")
    return importlib.import_module("wids")


def test_wids_reads_what_was_written(corpus, tmp_path):
    wids = import_wids()
    shard_dir, names, samples = corpus
    desc = wids_shardlist(shard_dir)
    assert desc["wids_version"] == 1 and [e["url"] for e in desc["shardlist"]] == [f"{n}.tar" for n in names]
    index = write_wids_index(shard_dir)
    try:
        ds = wids.ShardListDataset(str(index), cache_dir=str(tmp_path / "wids_cache"), transformations=[])
        assert len(ds) == len(samples)
        got = []
        for i in range(len(ds)):
            s = ds[i]
            got.append({"__key__": s["__key__"], **{k[1:]: v.read() for k, v in s.items() if k.startswith(".")}})
        ds.close()
    finally:
        index.unlink()
    assert got == expected(samples)


def test_random_access_through_index(corpus):
    shard_dir, names, samples = corpus
    want = {s.key: sample_bytes(s) for s in samples}
    meta = {s.key: (s.video_uid, s.source, s.duration) for s in samples}
    for name in names:
        tar = shard_dir / f"{name}.tar"
        rows = read_index(shard_dir / f"{name}.parquet")
        assert [r["sample_index"] for r in rows] == list(range(len(rows)))
        for row in reversed(rows):  # any order: each read seeks
            assert read_sample(tar, row) == want[row["key"]]
            assert row["member"] == sorted(want[row["key"]])
            with open(tar, "rb") as f:  # the header offset points at the member's own header
                f.seek(row["header_offset"][0])
                info = tarfile.TarInfo.frombuf(f.read(512), "utf-8", "strict")
            assert info.name == row["name"][0] == f"{row['key']}.{row['member'][0]}"
            assert (row["video_uid"], row["source"], row["duration"]) == meta[row["key"]]


def test_same_input_gives_identical_files(corpus, tmp_path):
    shard_dir, names, _ = corpus
    again, _ = write_corpus(tmp_path, tmp_path / "shards")
    assert again == names
    for name in names:
        for suffix in (".tar", ".parquet", ".stats.json"):
            assert (tmp_path / "shards" / f"{name}{suffix}").read_bytes() == (
                shard_dir / f"{name}{suffix}"
            ).read_bytes()


def test_killed_run_is_detected_and_cleaned(tmp_path):
    shard_dir = tmp_path / "shards"
    samples = make_samples(tmp_path)
    for i in range(4):
        write_shard(shard_dir, shard_name("s", i), samples[i : i + 1])
    (shard_dir / "s-000004.tar.tmp-4242").write_bytes(b"half a tar")  # killed while writing a tar
    (shard_dir / "s-000001.stats.json").unlink()  # killed after tar and index, before stats
    (shard_dir / "s-000002.stats.json").unlink()
    (shard_dir / "s-000002.parquet").unlink()  # killed after the tar
    with open(shard_dir / "s-000003.tar", "ab") as f:  # stats that do not match their tar
        f.write(b"\0" * 512)
    assert [shard_done(shard_dir, shard_name("s", i)) for i in range(5)] == [True, False, False, False, False]
    removed = {p.name for p in clean_partial(shard_dir)}
    assert removed == {
        "s-000004.tar.tmp-4242",
        "s-000001.tar",
        "s-000001.parquet",
        "s-000002.tar",
        "s-000003.tar",
        "s-000003.parquet",
        "s-000003.stats.json",
    }
    assert sorted(p.name for p in shard_dir.iterdir()) == ["s-000000.parquet", "s-000000.stats.json", "s-000000.tar"]
    assert clean_partial(shard_dir) == []
    assert [s["__key__"] for s in iter_shard(shard_dir / "s-000000.tar")] == [samples[0].key]


def test_rewrite_replaces_a_shard(tmp_path):
    samples = make_samples(tmp_path)
    write_shard(tmp_path, "r-000000", samples[:2])
    stats = write_shard(tmp_path, "r-000000", samples[2:3])
    assert stats.samples == 1 and shard_done(tmp_path, "r-000000")
    assert [s["__key__"] for s in iter_shard(tmp_path / "r-000000.tar")] == [samples[2].key]


def test_plan_respects_both_limits_and_is_deterministic():
    rng = random.Random(1)
    sizes = [(f"k{i:03d}", rng.randint(0, 400)) for i in range(200)] + [("big", 5000), ("tail", 1)]
    plan = plan_shards(sizes, max_bytes=1000, max_count=7)
    assert plan == plan_shards(list(sizes), max_bytes=1000, max_count=7)
    assert [k for shard in plan for k in shard] == [k for k, _ in sizes]
    size = dict(sizes)
    for shard in plan:
        assert 1 <= len(shard) <= 7
        assert sum(size[k] for k in shard) <= 1000 or shard == ["big"]
    for a, b in itertools.pairwise(plan):  # greedy: the next sample did not fit
        assert len(a) == 7 or sum(size[k] for k in a) + size[b[0]] > 1000
    assert ["big"] in plan
    assert plan_shards([], 10, 10) == []
    assert plan_shards([("a", 1)], 10, 1) == [["a"]]
    with pytest.raises(ValueError):
        plan_shards([("a", 1)], 0, 1)
    assert shard_name("longvid", 7) == "longvid-000007"
    with pytest.raises(ValueError):
        shard_name("a.b", 0)


@pytest.mark.parametrize(
    "key, members",
    [
        ("ego4d_a.b", {"mp4": b"x"}),
        ("ego4d_a/b", {"mp4": b"x"}),
        ("", {"mp4": b"x"}),
        ("ego4d_ok", {"mp4": "text is not bytes"}),
        ("ego4d_ok", {"mp4": 3}),
        ("ego4d_ok", {"mp4": bytearray(b"x")}),
        ("ego4d_ok", {"a/b": b"x"}),
        ("ego4d_ok", {"": b"x"}),
        ("ego4d_ok", {}),
        ("ego4d_" + "x" * 100, {"json": b"x"}),  # a safe key whose member name overflows USTAR
    ],
)
def test_bad_samples_are_refused_and_leave_nothing(tmp_path, key, members):
    good = Sample("ego4d_first", {"json": b"{}"})
    with pytest.raises((ValueError, TypeError)):
        write_shard(tmp_path, "bad-000000", [good, Sample(key, members)])
    assert list(tmp_path.iterdir()) == []


def test_duplicate_keys_are_refused(tmp_path):
    s = Sample("ego4d_same", {"json": b"{}"})
    with pytest.raises(ValueError, match="duplicate"):
        write_shard(tmp_path, "dup-000000", [s, s])
    assert list(tmp_path.iterdir()) == []


def test_one_sample_and_empty_input(tmp_path):
    assert write_shard(tmp_path / "none", "e-000000", iter([])) is None
    assert not (tmp_path / "none").exists()
    stats = write_shard(tmp_path, "one-000000", [Sample("webvid_only", {"json": b"{}"}, 2.5, "webvid", "webvid/1")])
    assert (stats.samples, stats.members, stats.duration, stats.sources) == (1, 1, 2.5, {"webvid": 1})
    assert list(iter_shard(tmp_path / "one-000000.tar")) == [{"__key__": "webvid_only", "json": b"{}"}]
    assert wids_shardlist(tmp_path)["shardlist"] == [{"url": "one-000000.tar", "nsamples": 1, "filesize": stats.bytes}]
    with pytest.raises(ValueError):
        write_wids_index(tmp_path / "none")


def test_an_empty_shard_when_asked(tmp_path):
    """allow_empty writes a finished shard of no samples (a feature shard whose every video failed)."""
    stats = write_shard(tmp_path, "e-000000", [], allow_empty=True, extra_stats={"errors": [{"key": "x"}]})
    assert stats is not None and (stats.samples, stats.members, stats.duration) == (0, 0, 0.0)
    assert shard_done(tmp_path, "e-000000") and read_stats(tmp_path, "e-000000")["errors"] == [{"key": "x"}]
    assert list(iter_shard(tmp_path / "e-000000.tar")) == []
    assert read_index(tmp_path / "e-000000.parquet") == []


def test_iter_shard_refuses_ungrouped_members(tmp_path):
    path = tmp_path / "mixed.tar"
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name in ("a_1.json", "b_2.json", "a_1.mp4"):
            info = tarfile.TarInfo(name)
            tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ValueError, match="not contiguous"):
        list(iter_shard(path))
