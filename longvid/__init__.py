"""longvid: long-video training corpora from public manifests, with cached HiCo features.

Package map (one job per module):
  records      the Video, Span and ErrorRow records every source yields
  keys         the one function that derives a WebDataset-safe sample key
  timecodes    parsing of every time encoding the manifests use
  registry     name -> dotted path tables for sources, stages and encoders
  sources/     one reader per dataset (ego4d, howto100m, hdvila, miradata, webvid)
  catalog/     Parquet catalog tables, ingest, read-only SQL and stats over DuckDB
  sample/      the self-made sample: FFmpeg videos, five manifests, a loopback server
  media/       FFmpeg location, probing, decoding, segmenting
  cli/         the thin typer CLI, one module per command
"""

__version__ = "0.1.0"
