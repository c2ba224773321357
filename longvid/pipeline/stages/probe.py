"""`probe`: duration, fps, size, codec (and keyframes, where samples are cut) of the fetched file."""

from __future__ import annotations

from longvid.pipeline.stage import Stage, VideoWork
from longvid.run.resources import Resources


def probe(work: VideoWork) -> None:
    """Duration, fps, size, codec and keyframes of the fetched file (PyAV). A source whose videos
    are kept whole needs no keyframes: its headers are read, and the sample's decode check (both
    ends of the stream) stands in for the packet scan."""
    from longvid.media.probe import probe as probe_media

    assert work.path is not None
    mode, _, _ = work.segment_mode
    work.probe = probe_media(work.path, scan=mode != "whole")


STAGE = Stage("probe", probe, "video", needs=("media",), gives=("probe",), resources=Resources(cpus=0.75),
              doc="PyAV probe: duration, fps, size, codec, keyframes")
