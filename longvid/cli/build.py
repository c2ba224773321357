"""`longvid build`: the product's main job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from longvid.cli.common import clear_errors, log


def build(
    sources: str = typer.Option(..., "--sources", help="comma-separated source names, or 'all'"),
    manifests: Path = typer.Option(..., "--manifests", help="folder holding <source>/ manifest folders"),
    out: Path = typer.Option(..., "--out", help="corpus folder"),
    media_root: Optional[Path] = typer.Option(None, "--media-root", help="already-downloaded media as DIR/<source>/..."),
    recipe: Optional[Path] = typer.Option(None, "--recipe", help="pipeline recipe YAML (default: pipelines/longvid.yaml)"),
    address: Optional[str] = typer.Option(None, "--address", envvar="RAY_ADDRESS", help="Ray cluster address; default: a local Ray"),
    runner: str = typer.Option("ray", "--runner", help="ray, or local (threads in this process, for small runs)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="CPUs for the local Ray / threads for the local runner"),
    force: bool = typer.Option(False, "--force", help="throw away staged work and shards and rebuild"),
    allow_local: list[Path] = typer.Option([], "--allow-local", help="a folder besides --media-root that manifest paths and file:// URLs may point into (repeatable)"),
    allow_private_hosts: bool = typer.Option(False, "--allow-private-hosts", help="fetch from loopback, private and link-local addresses too"),
    max_video_bytes: Optional[int] = typer.Option(None, "--max-video-bytes", help="cap on one download in bytes (default 32 GiB)"),
    keep_media: bool = typer.Option(False, "--keep-media", help="keep fetched media after their samples are in shards"),
    select: Optional[str] = typer.Option(None, "--select", help="SQL predicate over clips columns and scores: which samples go into the shards (changing it rewrites shards only)"),
    proxy: Optional[int] = typer.Option(None, "--proxy", help="also write per sample a proxy of this short side "
                                        "(e.g. 448) that precompress reads instead of the source when it suffices"),
    media_budget: Optional[int] = typer.Option(None, "--media-budget", help="bytes the media cache may hold; media of videos already in shards are evicted first"),
    cookies: Optional[Path] = typer.Option(None, "--cookies", help="a cookies.txt (Netscape format) for yt-dlp: YouTube sign-in, age gates"),
    http_proxy: Optional[str] = typer.Option(None, "--http-proxy", help="a proxy URL for every download (http://, https://, socks5://)"),
) -> None:
    """Ingest, fetch, probe, segment, align captions and write WebDataset shards; resumable."""
    from longvid.pipeline.build import BuildConfig
    from longvid.pipeline.build import build as run_build
    from longvid.registry import parse_source_list

    with clear_errors():
        summary = run_build(BuildConfig(
            sources=parse_source_list(sources), manifests=manifests, corpus=out, media_root=media_root,
            recipe=recipe, address=address, runner=runner, workers=workers, force=force,
            allow_local=tuple(allow_local), allow_private_hosts=allow_private_hosts, max_video_bytes=max_video_bytes,
            keep_media=keep_media, select=select, proxy=proxy, media_budget=media_budget, cookies=cookies,
            http_proxy=http_proxy, log=log))
    typer.echo(json.dumps(summary, indent=1))
