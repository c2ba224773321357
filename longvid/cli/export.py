"""`longvid export llava`: the corpus as LLaVA / VideoChat-Flash annotations plus a data-mix YAML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from longvid.cli.common import clear_errors

export_app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                         help="Export the corpus to other tools' formats.")


@export_app.command()
def llava(
    corpus: Path = typer.Argument(..., help="corpus folder"),
    out: Path = typer.Option(..., "-o", "--out", help="annotation file to write (.json list or .jsonl)"),
    mix: Optional[Path] = typer.Option(None, "--mix", help="data-mix YAML to write (default: OUT with .yaml)"),
    videos: str = typer.Option("samples", "--videos", help="samples: copy each sample's .mp4 out of its shard; "
                               "source: point at the source videos under --media-root with start/end"),
    videos_dir: Optional[Path] = typer.Option(None, "--videos-dir", help="where `samples` writes <key>.mp4 (default: <OUT stem>_videos/)"),
    media_root: Optional[Path] = typer.Option(None, "--media-root", help="the datasets' videos as DIR/<source>/... (for --videos source)"),
) -> None:
    """LLaVA / VideoChat-Flash annotations (one record per conversation) and a data mix both trainers read."""
    from longvid.export.llava import ExportConfig, export_llava

    with clear_errors():
        if not (Path(corpus) / "catalog").is_dir():
            raise FileNotFoundError(f"no catalog at {Path(corpus) / 'catalog'}: build the corpus first")
        summary = export_llava(ExportConfig(corpus=corpus, out=out, mix=mix, videos=videos, videos_dir=videos_dir,
                                            media_root=media_root))
    typer.echo(json.dumps(summary, indent=1))
