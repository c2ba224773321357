"""The self-made sample behind `longvid sample OUT`, `make demo` and the tests: short FFmpeg-made
videos plus manifests for all five sources in their exact on-disk formats, quirks included.

Modules:
  make       make_sample(out, seed=, small=, port=): writes manifests/, media/, http/, sample.json
  videos     VideoSpec and make_videos: distinct, deterministic lavfi test videos (2 at a time)
  manifests  what the source modules share: Expect (expected counts), CsvText, ids, time formats
  ego4d, howto100m, hdvila, miradata, webvid
             one module per source: build(rng, small=, port=) -> its files, videos, expectations
  server     serve(root) (a loopback HTTP server with HEAD and Range) and main() for the CLI
"""
