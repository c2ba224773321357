"""One reader per dataset, each a small module like a lhotse recipe.

Every source module exposes the same three things:
  NAME                    its registry name, also the `video_uid` prefix
  files(manifest_dir)     the manifest files it will read (raises MissingManifest, naming
                          what was expected where, when a required one is absent)
  read(manifest_dir)      an iterator of Video, Span and ErrorRow records, streaming: memory
                          stays flat however large the files are

Modules: base (shared file readers and the Reject mechanism), ego4d, howto100m, hdvila,
miradata, webvid. Register a new one in longvid/registry.py.
"""
