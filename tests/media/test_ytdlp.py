"""yt-dlp against a loopback server: pages that embed a video (<video src>, og:video, JSON-LD)
land, a page without one is classified, a span-only download holds exactly its range, faults and
the location rules (through the GuardProxy) are classified, cookies and a proxy are used."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from longvid.errors import error_class
from longvid.media.crawl import FetchOptions, fetch_video
from longvid.media.errors import MediaError
from longvid.media.ffmpeg import run_ffmpeg
from longvid.media.guard_proxy import GuardProxy
from longvid.media.locations import LocationPolicy, refuse
from longvid.media.probe import probe
from longvid.media.ytdlp import Section, YtdlpOptions, download, youtube_url
from tests.support import make_media
from tests.support.fault_server import fault_server

ALLOW = LocationPolicy(allow_private_hosts=True)
FAST = YtdlpOptions(timeout=2, retries=1, backoff=0.01)
LONG_SECONDS = 12.0


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A served folder: files/ (FFmpeg-made videos, one 12 s long) and pages/ (HTML)."""
    root = tmp_path_factory.mktemp("site")
    files = make_media(root / "files")
    long = root / "files" / "long.mp4"
    run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=25:duration={LONG_SECONDS}", "-f", "lavfi",
                "-i", f"sine=frequency=440:duration={LONG_SECONDS}", "-c:v", "libx264", "-g", "25", "-pix_fmt",
                "yuv420p", "-c:a", "aac", "-shortest", str(long)], timeout=120)
    files["long.mp4"] = long
    with fault_server(root, stall_s=5) as server:
        pages = root / "pages"
        pages.mkdir()
        (pages / "video.html").write_text(
            '<!DOCTYPE html><html><head><title>A clip</title></head><body><h1>A clip</h1>'
            '<video controls src="/files/av.mp4"></video></body></html>')
        (pages / "og.html").write_text(
            '<!DOCTYPE html><html><head><title>Stock</title>'
            f'<meta property="og:video" content="{server.url("files/noaudio.mp4")}">'
            '<meta property="og:video:type" content="video/mp4"></head><body>stock footage</body></html>')
        ld = {"@context": "https://schema.org", "@type": "VideoObject", "name": "Long", "duration": "PT12S",
              "contentUrl": server.url("files/long.mp4"), "uploadDate": "2024-01-01",
              "thumbnailUrl": server.url("files/none.jpg")}
        (pages / "jsonld.html").write_text(
            '<!DOCTYPE html><html><head><title>Long</title><script type="application/ld+json">'
            f'{json.dumps(ld)}</script></head><body>a long one</body></html>')
        unseekable = {**ld, "contentUrl": server.url("nolength/files/long.mp4")}  # no byte ranges there
        (pages / "unseekable.html").write_text(
            '<!DOCTYPE html><html><head><title>Long</title><script type="application/ld+json">'
            f'{json.dumps(unseekable)}</script></head><body>a long one</body></html>')
        (pages / "none.html").write_text('<!DOCTYPE html><html><head><title>Gone</title></head>'
                                         '<body><p>This video was removed.</p></body></html>')
        (pages / "stalled.html").write_text(  # the media stalls after its first KiB
            '<!DOCTYPE html><html><body><video src="/stall/files/av.mp4"></video></body></html>')
        (pages / "elsewhere.html").write_text(  # the media on another loopback address
            '<!DOCTYPE html><html><body><video src="http://127.0.0.2:9/files/av.mp4"></video></body></html>')
        yield server, files


def test_a_page_embedding_a_video_lands(site, tmp_path):
    server, files = site
    result = download(server.url("pages/video.html"), tmp_path, "v", options=FAST, policy=ALLOW)
    assert result.source_kind == "ytdlp" and result.path.parent == tmp_path and result.path.name.startswith("v.")
    assert sha(result.path) == sha(files["av.mp4"]) and result.bytes == files["av.mp4"].stat().st_size
    assert result.section is None and result.attempts == 1
    assert server.hits("files/av.mp4") >= 1


def test_og_video_page_lands_through_the_crawler(site, tmp_path):
    """A direct URL that answers with a page goes to yt-dlp, which finds og:video."""
    server, files = site
    result = fetch_video(server.url("pages/og.html"), tmp_path, "og", options=FetchOptions(timeout=2, retries=1),
                         policy=ALLOW)
    assert result.source_kind == "ytdlp" and sha(result.path) == sha(files["noaudio.mp4"])
    direct = fetch_video(server.url("files/av.mp4"), tmp_path, "direct", policy=ALLOW)
    assert direct.source_kind == "http" and sha(direct.path) == sha(files["av.mp4"])


def test_a_page_without_a_video_is_classified(site, tmp_path):
    server, _ = site
    with pytest.raises(MediaError) as info:
        fetch_video(server.url("pages/none.html"), tmp_path, "n", options=FetchOptions(timeout=2, retries=2),
                    policy=ALLOW)
    assert info.value.cause == "no_video_in_page" and error_class(info.value.cause) == "removed"
    assert info.value.attempts == 1  # final: not retried
    assert not list(tmp_path.iterdir())


def test_span_only_download_holds_exactly_the_span(site, tmp_path):
    server, _ = site
    asked = []

    def choose(duration):
        asked.append(duration)
        return Section(3.0, 6.5, (3.0, 5.0))

    result = download(server.url("pages/jsonld.html"), tmp_path, "s", options=FAST, policy=ALLOW, choose_section=choose)
    assert asked == [LONG_SECONDS]  # yt-dlp read the duration from the page's JSON-LD
    assert result.section == (3.0, 6.5) and result.source_duration == LONG_SECONDS
    info = probe(result.path)
    assert abs(info.duration - 3.5) <= 1 / 25 + 1e-3  # the span, within one frame
    assert info.keyframes[:2] == (0.0, 2.0) and info.codec == "h264" and info.has_audio  # a keyframe at each cut
    again = download(server.url("pages/jsonld.html"), tmp_path / "again", "s", options=FAST, policy=ALLOW,
                     choose_section=choose)
    assert sha(again.path) == sha(result.path)  # deterministic bytes
    # a server without byte ranges: the whole video comes down and the same range is cut here, same bytes
    cut_here = download(server.url("pages/unseekable.html"), tmp_path / "cut", "s", options=FAST, policy=ALLOW,
                        choose_section=choose)
    assert cut_here.section == (3.0, 6.5) and sha(cut_here.path) == sha(result.path)
    assert [p.name for p in (tmp_path / "cut").iterdir()] == ["s.mp4"]  # the whole download is gone


def test_http_faults_through_ytdlp_are_classified(site, tmp_path):
    server, files = site
    with pytest.raises(MediaError) as info:
        download(server.url("404/pages/video.html"), tmp_path, "a", options=FAST, policy=ALLOW)
    assert info.value.cause == "not_found" and server.hits("404/pages/video.html") == 1
    with pytest.raises(MediaError) as info:
        download(server.url("500/pages/video.html"), tmp_path, "b", options=FAST, policy=ALLOW)
    assert info.value.cause == "server_error" and server.hits("500/pages/video.html") == 2  # retried once
    # 429 with Retry-After: retried after the wait, then the page and its video land
    result = download(server.url("flaky429/1/pages/video.html"), tmp_path, "c", options=FAST, policy=ALLOW)
    assert sha(result.path) == sha(files["av.mp4"]) and result.attempts == 2
    with pytest.raises(MediaError) as info:
        download(server.url("pages/stalled.html"), tmp_path, "d", options=YtdlpOptions(timeout=1, retries=0),
                 policy=ALLOW)
    assert info.value.cause == "timeout" and error_class("timeout") == "transient"


def test_the_byte_cap_holds_for_ytdlp(site, tmp_path):
    server, files = site
    small = files["av.mp4"].stat().st_size // 2
    for page, choose in (("pages/video.html", None), ("pages/jsonld.html", lambda d: Section(0.0, 10.0))):
        with pytest.raises(MediaError) as info:
            download(server.url(page), tmp_path, "big", policy=ALLOW, choose_section=choose,
                     options=YtdlpOptions(timeout=2, retries=1, max_bytes=small if choose is None else 20_000))
        assert info.value.cause == "too_large" and error_class("too_large") == "bad_media", page
        assert info.value.attempts == 1  # not retried
    assert not [p for p in tmp_path.iterdir() if p.is_file()]


def test_location_rules_hold_for_ytdlp(site, tmp_path):
    server, _ = site
    with pytest.raises(MediaError) as info:
        download(server.url("pages/video.html"), tmp_path, "p", options=FAST, policy=LocationPolicy())
    assert info.value.cause == "refused_location" and "--allow-private-hosts" in info.value.detail

    class OnlyOneLoopback(LocationPolicy):
        """127.0.0.1 allowed, every other address refused (so the page loads, its media does not)."""

        def check_address(self, host: str, address: str) -> None:
            if address != "127.0.0.1":
                raise refuse(f"host {host} ({address}) is not 127.0.0.1")

    with pytest.raises(MediaError) as info:
        download(server.url("pages/elsewhere.html"), tmp_path, "q", options=FAST,
                 policy=OnlyOneLoopback(allow_private_hosts=True))
    assert info.value.cause == "refused_location" and "127.0.0.2" in info.value.detail
    assert not [p for p in tmp_path.iterdir() if p.stat().st_size]


def test_cookies_file_and_proxy_are_used(site, tmp_path):
    server, files = site
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tabc123\n")
    before = cookies.read_text()
    seen: list[str] = []

    class Recording(LocationPolicy):
        def check_address(self, host: str, address: str) -> None:
            seen.append(host)

    with GuardProxy(Recording(allow_private_hosts=True)) as user_proxy:
        options = YtdlpOptions(timeout=2, retries=0, cookies=cookies, proxy=user_proxy.url)
        result = download(server.url("pages/video.html"), tmp_path, "k", options=options, policy=ALLOW)
    assert sha(result.path) == sha(files["av.mp4"])
    assert "session=abc123" in server.headers("pages/video.html").get("cookie", "")
    assert seen and set(seen) == {"127.0.0.1"}  # every connection went through the given proxy
    assert cookies.read_text() == before  # yt-dlp wrote back to its own copy only


@pytest.mark.parametrize(("url", "canonical"), [
    ("https://www.youtube.com/watch?v=-abc_DEF123", "https://www.youtube.com/watch?v=-abc_DEF123"),
    ("https://youtu.be/_97kyZVWVG0?t=5", "https://www.youtube.com/watch?v=_97kyZVWVG0"),
    ("https://m.youtube.com/shorts/abcdefghijk", "https://www.youtube.com/watch?v=abcdefghijk"),
])
def test_youtube_ids_are_checked_and_made_canonical(url, canonical):
    assert youtube_url(url) == canonical


@pytest.mark.parametrize("url", ["https://www.youtube.com/watch?v=--exec%20rm", "https://youtu.be/short",
                                 "https://www.youtube.com/watch?v=abc;def1234"])
def test_bad_youtube_ids_are_bad_rows(url, tmp_path):
    with pytest.raises(MediaError) as info:
        download(url, tmp_path, "y", options=FAST, policy=ALLOW)
    assert info.value.cause == "bad_url" and error_class("bad_url") == "bad_row"


@pytest.mark.parametrize(("stderr", "cause"), [
    ("[http @ 0x1] HTTP error 500 Internal Server Error\n[in#0 @ 0x2] moov atom not found", "server_error"),
    ("[http @ 0x1] HTTP error 404 Not Found\nError opening input", "not_found"),
    ("Server returned 403 Forbidden (access denied)", "forbidden"),
    ("[http @ 0x1] HTTP error 429 Too Many Requests", "rate_limited"),
    ("[tcp @ 0x1] Connection timed out", "timeout"),
    ("Connection refused", "connection_failed"),
    ("[in#0 @ 0x2] moov atom not found\nInvalid data found when processing input", "not_video"),
    ("something else entirely", "download_failed"),
])
def test_ffmpeg_failures_are_classified(stderr, cause):
    from longvid.media.span_download import ffmpeg_cause

    assert ffmpeg_cause(stderr) == cause
