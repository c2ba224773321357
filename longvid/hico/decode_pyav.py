"""PyAV frame reading for HiCo (hico-spec §3, §9.2): exact random access on constant-rate streams.

Decodes in presentation order and keeps the wanted indices (duplicates and any order allowed).
When the next wanted frame is more than `seek_gap` frames ahead it seeks to the keyframe before
it and recovers the frame index from the pts; this needs a constant frame rate, so it is done
only when the stream's average rate equals its base rate and frames carry pts; otherwise
decoding is purely sequential. `pyav_info` = (stream.frames, or the number of video packets
when the container does not say, and average_rate).

Torch-free (numpy only).
"""

from __future__ import annotations

import os
from fractions import Fraction

import numpy as np

DEFAULT_SEEK_GAP = 250


def pyav_info(path: str | os.PathLike[str]) -> tuple[int, float]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if rate is None:
            raise ValueError(f"{path}: no frame rate in the video stream")
        vlen = int(stream.frames or 0)
        if vlen <= 0:
            vlen = sum(1 for pkt in container.demux(stream) if pkt.size > 0)
        return vlen, float(rate)


def _frame_index(pts: int, start: int, time_base: Fraction, rate: Fraction) -> int:
    return int(round(float((pts - start) * time_base * rate)))


def pyav_read(path: str | os.PathLike[str], indices: list[int], seek_gap: int | None) -> np.ndarray:
    import av

    wanted = sorted(set(indices))
    got: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1  # one core per reader: decode tasks ask for one CPU
        rate, tb = stream.average_rate, stream.time_base
        can_seek = seek_gap is not None and rate is not None and tb is not None and rate == stream.base_rate
        pos: int | None = 0  # index of the next frame the decoder yields; None = read it from pts
        start = 0  # pts of frame 0, the origin for pts -> index after a seek
        if can_seek:
            first = next(iter(container.decode(stream)), None)
            if first is None or first.pts is None:
                return pyav_read(path, indices, seek_gap=None)
            start = first.pts
            # Every path below seeks before decoding on (an abandoned decode generator may hold
            # frames): the loop seeks to a far first target; otherwise rewind to frame 0 here.
            if wanted[0] <= seek_gap:  # type: ignore[operator]
                container.seek(start, stream=stream, backward=True, any_frame=False)
                pos = None
        w = 0  # position in `wanted` of the next frame to keep
        while w < len(wanted):
            if can_seek and pos is not None and wanted[w] - pos > seek_gap:  # type: ignore[operator]
                ts = start + int(Fraction(wanted[w]) / rate / tb)  # type: ignore[operator]
                container.seek(ts, stream=stream, backward=True, any_frame=False)
                pos = None
            for frame in container.decode(stream):
                if pos is None:
                    if frame.pts is None:
                        return pyav_read(path, indices, seek_gap=None)
                    pos = _frame_index(frame.pts, start, tb, rate)  # type: ignore[arg-type]
                    if pos > wanted[w]:  # the seek overshot: decode sequentially instead
                        return pyav_read(path, indices, seek_gap=None)
                pos += 1
                if pos - 1 == wanted[w]:
                    got[pos - 1] = frame.to_ndarray(format="rgb24")
                    w += 1
                    # Re-seek only right after keeping a frame, so a seek that lands on a
                    # keyframe far before the target cannot loop.
                    if w == len(wanted) or (can_seek and wanted[w] - pos > seek_gap):  # type: ignore[operator]
                        break
            else:
                if w < len(wanted):
                    raise IndexError(f"{path}: frame index {wanted[w]} out of range (decoded {pos} frames)")
    return np.stack([got[i] for i in indices])
