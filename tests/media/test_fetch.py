"""fetch: local paths and file:// URLs as is; HTTP streamed, retried and classified (loopback only)."""

from __future__ import annotations

import hashlib
import pickle
import socket
import time
from pathlib import Path

import pytest

from longvid.media.fetch import FetchResult, MediaError, fetch, is_youtube, quote_url, resolve_location
from longvid.media.locations import LocationPolicy
from tests.support import make_media
from tests.support.fault_server import fault_server

LOOPBACK = LocationPolicy(allow_private_hosts=True)  # the fault server is on 127.0.0.1
FAST = {"timeout": 0.5, "backoff": 0.01, "policy": LOOPBACK}


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    return make_media(tmp_path_factory.getbasetemp() / "media")


@pytest.fixture(scope="module")
def server(media):
    with fault_server(media["av.mp4"].parent) as srv:
        yield srv


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def no_partials(folder: Path) -> bool:
    return not any(p.name.endswith(".part") for p in folder.iterdir()) if folder.exists() else True


# local and file://

def local(media) -> LocationPolicy:
    return LocationPolicy(allow_local=(media["av.mp4"].parent,))


def test_local_path_is_used_in_place(media, tmp_path):
    src = media["av.mp4"]
    result = fetch(str(src), tmp_path / "dest.mp4", policy=local(media))
    assert result == FetchResult(path=src, bytes=src.stat().st_size, sha256=None, attempts=0, source_kind="local")
    assert not (tmp_path / "dest.mp4").exists()
    hashed = fetch(str(src), tmp_path / "dest.mp4", hash_local=True, policy=local(media))
    assert hashed.sha256 == sha(src)


def test_file_url_with_space(media, tmp_path):
    src = media["with space.mp4"]
    result = fetch(src.as_uri(), tmp_path / "dest.mp4", hash_local=True, policy=local(media))
    assert result.path == src and result.source_kind == "file" and result.sha256 == sha(src)


@pytest.mark.parametrize(("name", "cause"), [("missing.mp4", "no_media"), ("zero.mp4", "empty_file")])
def test_local_failures(media, tmp_path, name, cause):
    with pytest.raises(MediaError) as info:
        fetch(str(media["av.mp4"].parent / name), tmp_path / "dest.mp4", policy=local(media))
    assert info.value.cause == cause


def test_unsupported_scheme(tmp_path):
    with pytest.raises(MediaError) as info:
        fetch("s3://bucket/video.mp4", tmp_path / "dest.mp4")
    assert info.value.cause == "bad_url"


# HTTP

def test_http_download_is_byte_identical(media, server, tmp_path):
    dest = tmp_path / "sub" / "av.mp4"
    result = fetch(server.url("av.mp4"), dest, chunk=4096, **FAST)
    assert dest.read_bytes() == media["av.mp4"].read_bytes()
    assert result == FetchResult(path=dest, bytes=dest.stat().st_size, sha256=sha(dest), attempts=1, source_kind="http")
    assert server.hits("av.mp4") == 1 and no_partials(dest.parent)


def test_existing_download_is_reused(media, server, tmp_path):
    dest = tmp_path / "noaudio.mp4"
    first = fetch(server.url("noaudio.mp4"), dest, **FAST)
    mtime = dest.stat().st_mtime_ns
    again = fetch(server.url("noaudio.mp4"), dest, **FAST)
    assert again.attempts == 0 and again.sha256 == first.sha256 and dest.stat().st_mtime_ns == mtime
    dest.write_bytes(b"partial")  # wrong size: downloaded again
    assert fetch(server.url("noaudio.mp4"), dest, **FAST).sha256 == first.sha256
    assert dest.read_bytes() == media["noaudio.mp4"].read_bytes()


def test_raw_space_in_url(media, server, tmp_path):
    raw = server.url("with space.mp4", quote=False)
    assert " " in raw
    result = fetch(raw, tmp_path / "a.mp4", **FAST)
    assert result.sha256 == sha(media["with space.mp4"])
    fetch(server.url("with space.mp4"), tmp_path / "b.mp4", **FAST)  # already %20: not double-encoded
    assert server.hits("with space.mp4") == 2


@pytest.mark.parametrize(("url", "quoted"), [
    ("http://h/a b/c d.mp4", "http://h/a%20b/c%20d.mp4"),
    ("http://h/a%20b.mp4", "http://h/a%20b.mp4"),
    ("http://h/100% real.mp4", "http://h/100%25%20real.mp4"),
    ("http://h:8080/vidéo.mp4?x=a b&y=1", "http://h:8080/vid%C3%A9o.mp4?x=a%20b&y=1"),
    ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
])
def test_quote_url(url, quoted):
    assert quote_url(url) == quoted


@pytest.mark.parametrize(("route", "cause", "retries", "hits"), [
    ("404/av.mp4", "not_found", 3, 1),           # 4xx: no retry
    ("nothere.mp4", "not_found", 3, 1),
    ("500/av.mp4", "server_error", 2, 3),        # 5xx: retried
    ("429/av.mp4", "rate_limited", 2, 3),        # 429: retried (Retry-After: 0)
    ("drop/9/av.mp4", "connection_failed", 1, 2),  # connection closed before a response: retried
    ("truncate/av.mp4", "truncated", 2, 3),      # shorter than Content-Length: retried
    ("stall/av.mp4", "timeout", 1, 2),           # no data within the read timeout: retried
    ("empty/av.mp4", "empty_file", 3, 1),        # zero bytes: not transient
])
def test_http_faults_are_classified(server, tmp_path, route, cause, retries, hits):
    dest = tmp_path / "x.mp4"
    started = time.monotonic()
    with pytest.raises(MediaError) as info:
        fetch(server.url(route), dest, retries=retries, **FAST)
    assert info.value.cause == cause
    assert server.hits(route) == hits and info.value.attempts == hits
    assert not dest.exists() and no_partials(tmp_path)
    assert time.monotonic() - started < 5
    if route.startswith(("404", "500", "429")):
        assert route[:3] in info.value.detail


@pytest.mark.parametrize("route", ["flaky500/2/av.mp4", "flaky429/1/av.mp4", "drop/1/av.mp4"])
def test_transient_faults_are_retried_until_success(media, server, tmp_path, route):
    result = fetch(server.url(route), tmp_path / "x.mp4", retries=3, **FAST)
    want = int(route.split("/")[1]) + 1
    assert result.attempts == want and server.hits(route) == want
    assert result.sha256 == sha(media["av.mp4"])


def test_connection_refused_is_not_retried(tmp_path):
    with socket.socket() as s:  # a free loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(MediaError) as info:
        fetch(f"http://127.0.0.1:{port}/a.mp4", tmp_path / "x.mp4", retries=3, **FAST)
    assert info.value.cause == "connection_failed" and info.value.attempts == 1


# YouTube, resolve_location, the error type

@pytest.mark.parametrize("url", ["https://www.youtube.com/watch?v=abcdefghijk", "https://youtu.be/abcdefghijk",
                                 "http://m.youtube.com/watch?v=x"])
def test_youtube_is_left_to_ytdlp(url, tmp_path):
    assert is_youtube(url)
    with pytest.raises(MediaError) as info:
        fetch(url, tmp_path / "x.mp4")
    assert info.value.cause == "bad_url" and "yt-dlp" in info.value.detail


def test_resolve_location(media, tmp_path):
    root = tmp_path / "root"
    (root / "miradata" / "clips").mkdir(parents=True)
    local = root / "miradata" / "clips" / "v 1.mp4"
    local.write_bytes(b"x")
    policy = LocationPolicy(media_root=root)
    assert resolve_location(policy, "miradata", "clips/v 1.mp4", "http://h/v.mp4") == str(local)
    assert resolve_location(policy, "miradata", "clips/other.mp4", "http://h/v.mp4") == "http://h/v.mp4"
    assert resolve_location(LocationPolicy(), "miradata", "clips/v 1.mp4", "http://h/v.mp4") == "http://h/v.mp4"
    assert resolve_location(policy, "miradata", "x" * 5000 + ".mp4", "http://h/v.mp4") == "http://h/v.mp4"  # too long
    with pytest.raises(MediaError) as info:
        resolve_location(policy, "miradata", "clips/other.mp4", None)
    assert info.value.cause == "no_media"


# what a manifest may make the build read

@pytest.mark.parametrize("media_path", ["../secret.mp4", "clips/../../secret.mp4", "/../secret.mp4", "..", "a\0b"])
def test_media_path_cannot_climb_out_of_the_media_root(tmp_path, media_path):
    root = tmp_path / "root"
    (root / "miradata").mkdir(parents=True)
    (root / "secret.mp4").write_bytes(b"x")
    with pytest.raises(MediaError) as info:
        resolve_location(LocationPolicy(media_root=root), "miradata", media_path.replace("\\0", "\0"), "http://h/v.mp4")
    assert info.value.cause == "refused_location"


def test_local_files_outside_the_allowed_folders_are_refused(media, tmp_path):
    src = media["av.mp4"]
    for location in (str(src), src.as_uri(), f"file://localhost{src}", str(src.parent / "x" / ".." / src.name)):
        with pytest.raises(MediaError) as info:
            fetch(location, tmp_path / "d.mp4", policy=LocationPolicy(media_root=tmp_path))
        assert info.value.cause == "refused_location" and "--allow-local" in info.value.detail
        assert fetch(location, tmp_path / "d.mp4", policy=local(media)).path == src
    sneaky = str(src.parent / ".." / src.parent.name / src.name)  # climbs out and back in: allowed
    assert fetch(sneaky, tmp_path / "d.mp4", policy=local(media)).path == src
    climbing = str(src.parent / ".." / "elsewhere.mp4")
    with pytest.raises(MediaError) as info:
        fetch(climbing, tmp_path / "d.mp4", policy=local(media))
    assert info.value.cause == "refused_location"
    for hostile in (f"file://otherhost{src}", "relative/../../etc/passwd", "/etc/passwd", "a\0b.mp4"):
        with pytest.raises(MediaError) as info:
            fetch(hostile.replace("\\0", "\0"), tmp_path / "d.mp4", policy=local(media))
        assert info.value.cause == "refused_location", hostile


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "10.1.2.3", "192.168.0.1", "169.254.169.254",
                                  "0.0.0.0", "224.0.0.1", "[::ffff:127.0.0.1]", "[fe80::1]"])
def test_private_hosts_are_refused_before_connecting(host, tmp_path):
    started = time.monotonic()
    with pytest.raises(MediaError) as info:
        fetch(f"http://{host}:9/v.mp4", tmp_path / "d.mp4", policy=LocationPolicy(), retries=0, timeout=2)
    assert info.value.cause == "refused_location" and "--allow-private-hosts" in info.value.detail
    assert time.monotonic() - started < 1.5


def test_redirect_to_a_private_host_is_refused(server, tmp_path, monkeypatch):
    """A public name that answers with a redirect to loopback: the redirect's connection is checked.
    Here the 'public' first hop is the loopback server itself with the check waived for its own
    address only, so the redirect to another loopback name is what gets refused."""
    from longvid.media import locations

    real = locations._blocked
    monkeypatch.setattr(locations, "_blocked", lambda a: None if a == "127.0.0.1" else real(a))
    target = server.url("av.mp4").replace("127.0.0.1", "[::1]")
    with pytest.raises(MediaError) as info:
        fetch(server.url(f"redirect/{target}"), tmp_path / "d.mp4", policy=LocationPolicy(), retries=0, timeout=2)
    assert info.value.cause == "refused_location" and "::1" in info.value.detail
    result = fetch(server.url(f"redirect/{server.url('av.mp4')}"), tmp_path / "e.mp4", policy=LocationPolicy(), timeout=2)
    assert result.bytes > 0  # a redirect to an allowed address is followed


def test_downloads_are_capped(media, server, tmp_path):
    size = media["av.mp4"].stat().st_size
    with pytest.raises(MediaError) as info:
        fetch(server.url("av.mp4"), tmp_path / "a.mp4", max_bytes=size - 1, **FAST)
    assert info.value.cause == "too_large" and server.hits("av.mp4") >= 1
    with pytest.raises(MediaError) as info:  # no Content-Length: cut off while streaming
        fetch(server.url("nolength/av.mp4"), tmp_path / "b.mp4", max_bytes=size // 2, **FAST)
    assert info.value.cause == "too_large" and no_partials(tmp_path)
    assert fetch(server.url("av.mp4"), tmp_path / "c.mp4", max_bytes=size, **FAST).bytes == size


def test_media_error_pickles_and_checks_cause():
    error = pickle.loads(pickle.dumps(MediaError("timeout", "slow", attempts=3)))
    assert (error.cause, error.detail, error.attempts) == ("timeout", "slow", 3)
    with pytest.raises(KeyError):
        MediaError("not_a_cause", "x")


def test_retry_after_is_read_as_seconds_or_a_date():
    from longvid.media.fetch import retry_after_seconds

    assert retry_after_seconds("7") == 7.0 and retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: retry now


def test_malformed_urls_are_bad_rows(tmp_path):
    for url in ("http://[bad/x", "http://h:99999999/x"):  # both fail before any connection
        with pytest.raises(MediaError) as info:
            fetch(url, tmp_path / "x.mp4", retries=0, timeout=0.5)
        assert info.value.cause == "bad_url"
