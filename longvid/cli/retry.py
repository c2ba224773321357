"""`longvid retry`: fetch again the videos a build could not, by error class."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from longvid.cli.common import clear_errors, log


def retry(
    corpus: Path = typer.Argument(..., help="corpus folder made by `longvid build`"),
    classes: str = typer.Option("transient,blocked", "--class",
                                help="error classes to retry, comma-separated (removed, blocked, transient, bad_media, "
                                     "bad_row, internal) or 'all'"),
    address: Optional[str] = typer.Option(None, "--address", envvar="RAY_ADDRESS", help="Ray cluster address; default: a local Ray"),
    runner: str = typer.Option("ray", "--runner", help="ray, or local (threads in this process, for small runs)"),
    workers: Optional[int] = typer.Option(None, "--workers", help="CPUs for the local Ray / threads for the local runner"),
    media_root: Optional[Path] = typer.Option(None, "--media-root", help="instead of the build's"),
    allow_local: list[Path] = typer.Option([], "--allow-local", help="instead of the build's (repeatable)"),
    allow_private_hosts: Optional[bool] = typer.Option(None, "--allow-private-hosts/--refuse-private-hosts", help="instead of the build's"),
    cookies: Optional[Path] = typer.Option(None, "--cookies", help="a cookies.txt for yt-dlp, instead of the build's"),
    http_proxy: Optional[str] = typer.Option(None, "--http-proxy", help="a proxy URL for every download, instead of the build's"),
) -> None:
    """Re-queue the videos that failed in the given error classes; their samples go into new shards after the existing ones."""
    from longvid.errors import parse_classes
    from longvid.pipeline.retry import RetryConfig
    from longvid.pipeline.retry import retry as run_retry

    with clear_errors():
        options = {"media_root": media_root, "allow_local": [str(p) for p in allow_local] or None,
                   "allow_private_hosts": allow_private_hosts, "cookies": cookies, "http_proxy": http_proxy}
        summary = run_retry(RetryConfig(corpus=corpus, classes=parse_classes(classes), runner=runner, address=address,
                                        workers=workers, options=options, log=log))
    typer.echo(json.dumps(summary, indent=1))
