"""Shards: key-grouped WebDataset tars written by longvid itself, each with an index and stats.

  plan     split samples (key, bytes), in their final order, into shards by bytes and count
  writer   write one shard: `<name>.tar` (USTAR, deterministic headers), `<name>.parquet`
           (one row per sample with member offsets) and, last, `<name>.stats.json` ("done");
           `shard_done` and `clean_partial` for resume after a killed run
  reader   plain generator over a tar, random access through the Parquet index, and the
           `wids.json` shard list that `wids.ShardListDataset` reads
"""
