"""`longvid build --proxy N`: a proxy shard beside every video shard (same samples, frames and rate,
short side N, keyframes on the sampled frames), made once (resumed per shard); `longvid precompress`
reads the proxies when they suffice, in a cache tagged `-p<N>`, and the sources with `--proxy off`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from longvid.catalog.sql import query
from longvid.hico.decode import open_video
from longvid.hico.sampling import SamplingConfig
from longvid.media.proxy import proxy_size, sampled_keyframes
from longvid.pipeline.build import BuildConfig, build
from longvid.shards.reader import iter_shard
from tests.pipeline.conftest import SampleInfo, offline

pytest.importorskip("torch")
SIZE = 128


@pytest.fixture(scope="module")
def proxied(sample: SampleInfo, recipe: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    corpus = tmp_path_factory.mktemp("proxied") / "corpus"
    with offline():
        summary = build(BuildConfig(sources=["webvid", "hdvila"], manifests=sample.manifests, corpus=corpus,
                                    media_root=sample.media, recipe=recipe, runner="local", workers=2,
                                    allow_private_hosts=True, proxy=SIZE))
    return corpus, summary


def keyframes(path: Path) -> list[int]:
    import av

    with av.open(str(path)) as container:
        return [i for i, frame in enumerate(container.decode(video=0)) if frame.key_frame]


def test_proxy_shards_hold_the_same_frames_smaller(proxied: tuple[Path, dict], tmp_path: Path) -> None:
    corpus, summary = proxied
    video_tars = sorted((corpus / "shards").glob("*.tar"))
    assert summary["proxies"]["shards"] == len(video_tars) >= 2 and summary["proxies"]["kept_source"] == 0
    for tar in video_tars:
        proxy_tar = corpus / "proxies" / str(SIZE) / tar.name
        stats = json.loads(proxy_tar.with_suffix(".stats.json").read_text())
        assert stats["input"]["sha256"] == json.loads(tar.with_suffix(".stats.json").read_text())["sha256"]
        sources, proxies = list(iter_shard(tar)), list(iter_shard(proxy_tar))
        assert [s["__key__"] for s in proxies] == [s["__key__"] for s in sources]
        for src, prx in zip(sources, proxies):
            assert prx["json"] == src["json"]
            a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
            a.write_bytes(src["mp4"])
            b.write_bytes(prx["mp4"])
            va, vb = open_video(a, "pyav"), open_video(b, "pyav")
            assert (vb.vlen, vb.fps) == (va.vlen, va.fps)
            height, width = vb.read([0]).shape[1:3]
            h0, w0 = va.read([0]).shape[1:3]
            assert (width, height) == proxy_size(w0, h0, SIZE) and min(width, height) == min(SIZE, h0, w0)
            wanted = sampled_keyframes(va.vlen, va.fps)  # sampled frames half a second apart or more
            assert set(wanted) <= set(SamplingConfig().indices(va.vlen, va.fps)) and len(wanted) >= 2
            assert set(wanted) <= set(keyframes(b))  # a seek to one of them decodes that frame alone


def test_rebuild_keeps_proxies_and_precompress_reads_them(proxied: tuple[Path, dict], sample: SampleInfo,
                                                          recipe: Path) -> None:
    from longvid.hico.precompress import PrecompressConfig
    from longvid.hico.run import precompress

    corpus, _ = proxied
    folder = corpus / "proxies" / str(SIZE)
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.tar")}
    with offline():
        again = build(BuildConfig(sources=["webvid", "hdvila"], manifests=sample.manifests, corpus=corpus,
                                  media_root=sample.media, recipe=recipe, runner="local", workers=2,
                                  allow_private_hosts=True, proxy=SIZE))
    assert again["proxies"]["current"] == again["proxies"]["shards"]
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("*.tar")} == mtimes

    base = dict(corpus=corpus, encoder="umt-tiny", resolution=SIZE, t_min=4, t_max=8)
    from_proxies = precompress(PrecompressConfig(**base))
    from_sources = precompress(PrecompressConfig(**base, proxy="off"))
    assert from_proxies["proxy"] == SIZE and from_proxies["encoder_tag"] == from_sources["encoder_tag"] + f"-p{SIZE}"
    assert from_sources["proxy"] is None and from_proxies["samples"] == from_sources["samples"] > 0
    _, rows = query(corpus, "SELECT encoder_tag, proxy, count(*) FROM features GROUP BY ALL ORDER BY 2 NULLS FIRST")
    assert rows == [(from_sources["encoder_tag"], None, from_sources["samples"]),
                    (from_proxies["encoder_tag"], SIZE, from_proxies["samples"])]
    bigger = precompress(PrecompressConfig(**{**base, "resolution": 2 * SIZE}))  # the proxies do not suffice
    assert bigger["proxy"] is None and "-p" not in bigger["encoder_tag"].split("-c")[-1]
