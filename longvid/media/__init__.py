"""Source media: get a video, read its facts, cut samples out of it. Plain Python, no Ray.

- ffmpeg: where the ffmpeg binary is (system or imageio-ffmpeg's) and how to run it.
- fetch: a local path, file:// or http(s):// URL -> a local file (streamed, atomic, retried,
  failures classified); `resolve_location` picks the local copy or the URL.
- probe: duration, rate, size, codec, keyframe times of a file via PyAV, without decoding.
- segment: cut a span by stream copy (from a keyframe) or exact re-encode, deterministically.
- errors: `MediaError(cause, detail)`, the one exception they raise (causes from longvid.errors).
"""
