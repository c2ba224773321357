"""Ego4D sample: `ego4d.json` (videos[], clips[]) and `narration.json` (two annotator passes of
instant narrations plus interval summaries), videos at `full_scale/<video_uid>.mp4`.

Quirks: one video with only pass 1 whose `_unmapped_timestamp_sec` differs from
`timestamp_sec`, a tiny negative timestamp (-4e-07), a narration file entry for a video that
ego4d.json does not list, redacted intervals, a VP9 video, one video with no audio, and one
listed video that was never downloaded.
"""

from __future__ import annotations

import json
import random
from typing import Any

from longvid.sample.manifests import Expect, SourceSample, sentence, uuid4
from longvid.sample.videos import VideoSpec, plan

NAME = "ego4d"
FPS = 30
SCENARIOS = (["Cooking"], ["Car mechanic"], ["Crafting/knitting/sewing/drawing/painting"], ["Cleaning / laundry"],
             ["Gardening", "Outdoor technical climbing/belaying/rappelling (includes ropewalking)"], ["Baker"])
SOURCES = (("unict", "GoPro Hero Silver 7"), ("cmu", "GoPro Hero Black 8"), ("iiith", "Vuzix Blade"),
           ("georgiatech", None), ("bristol", "GoPro Hero 7"))
ACTS = ("#C C opens", "#C C closes", "#C C picks", "#C C holds", "#C C drops", "#C C looks at",
        "#C C wipes", "#C C places", "#O a woman X touches", "#O man Y passes")
THINGS = ("a shelf", "the knife", "a basket from the shelf", "the tap", "a #unsure", "the spanner",
          "a piece of dough", "the cloth on the table", "knitting sticks by hand.", "the car bonnet")
SUMMARIES = ("#Summary C cooked a meal in the kitchen.", "#summary C repaired the car in a garage",
             "#Summary C cleaned the house", "#Summary C knitted a scarf while talking to a woman X.")


def _narrations(rng: random.Random, dur: float, offset: float = 0.0) -> list[dict[str, Any]]:
    out, t = [], rng.uniform(0.0, 2.0)
    while t < dur - 0.5:
        sec = round(t, 5)
        out.append({"timestamp_sec": sec, "timestamp_frame": round(sec * FPS),
                    "_unmapped_timestamp_sec": round(sec + offset, 7),
                    "narration_text": sentence(rng, ACTS, THINGS), "annotation_uid": uuid4(rng)})
        t += rng.uniform(1.5, 7.0)
    return out


def _summaries(rng: random.Random, dur: float, n: int) -> list[dict[str, Any]]:
    step = dur / n
    return [{"start_sec": round(i * step, 5), "end_sec": round(min(dur, (i + 1) * step + 0.1), 5),
             "summary_text": rng.choice(SUMMARIES), "annotation_uid": uuid4(rng)} for i in range(n)]


def _metadata(spec: VideoSpec) -> dict[str, Any]:
    dur = round(spec.duration, 4)
    audio = spec.audio is not None
    return {
        "fps": float(FPS), "num_frames": spec.frames, "video_codec": spec.codec,
        "display_resolution_width": spec.width, "display_resolution_height": spec.height,
        "sample_resolution_width": spec.width, "sample_resolution_height": spec.height,
        "mp4_duration_sec": dur, "video_start_sec": 0.0, "video_duration_sec": dur,
        "audio_start_sec": 0.0 if audio else None, "audio_duration_sec": dur if audio else None,
        "video_start_pts": 0, "video_duration_pts": round(dur * 15360),
        "video_base_numerator": 1, "video_base_denominator": 15360,
        "audio_start_pts": 0 if audio else None, "audio_duration_pts": round(dur * 16000) if audio else None,
        "audio_base_numerator": 1 if audio else None, "audio_base_denominator": 16000 if audio else None,
    }


def _video_item(rng: random.Random, i: int, spec: VideoSpec) -> dict[str, Any]:
    uid, dur = spec.native_id, round(spec.duration, 4)
    origin, device = SOURCES[i % len(SOURCES)]
    redacted = [] if i != 0 else [{"start_sec": round(dur * 0.5, 3), "end_sec": round(dur * 0.5 + 2.0, 3),
                                   "start_frame": round(dur * 0.5 * FPS), "end_frame": round((dur * 0.5 + 2.0) * FPS)}]
    component = {
        "video_component_uid": uuid4(rng), "video_uid": uid, "component_idx": 0, "redacted": False,
        "canonical_video_start_sec": 0.0, "canonical_video_end_sec": dur,
        "canonical_video_start_frame": 0, "canonical_video_end_frame": spec.frames,
        "video_metadata": {"fps": 29.97, "num_frames": round(dur * 29.97), "video_codec": "h264"},
    }
    return {
        "video_uid": uid, "duration_sec": dur, "scenarios": SCENARIOS[i % len(SCENARIOS)],
        "video_metadata": _metadata(spec),
        "split_em": rng.choice(["train", "val", None]), "split_av": None,
        "split_fho": rng.choice(["train", "multi", None]),
        "s3_path": f"s3://ego4d-consortium-sharing/public/v2/full_scale/{uid}.mp4",
        "manifold_path": f"manifold://ego4d_fair/tree/intermediate/canonical/v7/full_scale/canonical/{uid}.mp4",
        "origin_video_id": f"{origin}_{rng.randrange(1, 99):03d}_{rng.randrange(1, 9999):04d}",
        "video_source": origin, "device": device, "fb_participant_id": rng.choice([rng.randrange(1, 900), None]),
        "physical_setting_name": None, "is_stereo": False, "has_imu": i % 2 == 0, "has_gaze": False,
        "imu_s3_path": None, "imu_manifold_path": None, "gaze_s3_path": None, "gaze_manifold_path": None,
        "video_components": [component], "concurrent_sets": [], "has_redacted_regions": bool(redacted),
        "redacted_intervals": redacted, "gaps": None,
    }


def _clip(rng: random.Random, spec: VideoSpec) -> dict[str, Any]:
    start, end = round(spec.duration * 0.1, 4), round(spec.duration * 0.9, 4)
    uid = uuid4(rng)
    meta = dict(_metadata(spec), num_frames=round((end - start) * FPS), video_duration_sec=round(end - start, 4))
    return {"clip_uid": uid, "video_uid": spec.native_id, "video_start_sec": start, "video_end_sec": end,
            "video_start_frame": round(start * FPS), "video_end_frame": round(end * FPS), "clip_metadata": meta,
            "s3_path": f"s3://ego4d-consortium-sharing/public/v2/clips/{uid}.mp4",
            "manifold_path": f"manifold://ego4d_fair/tree/intermediate/canonical/v7/clips/{uid}.mp4"}


def build(rng: random.Random, *, small: bool, port: int) -> SourceSample:
    """Both manifests, the videos they name, and what a reader must find in them."""
    seconds = [30.0, 14.0, 22.0] if small else [95.0, 24.0, 44.0, 430.0, 63.0, 150.0]
    seconds.append(20.0)  # the last one is listed but never downloaded
    expect = Expect()
    specs, videos, narr = [], [], {}
    for i, base in enumerate(seconds):
        uid = uuid4(rng)
        vp9, long = i == 1, base > 100
        spec = plan(rng, NAME, uid, f"media/{NAME}/full_scale/{uid}.mp4", base * rng.uniform(0.85, 1.15),
                    fps=str(FPS), size=(128, 96) if long else rng.choice([(160, 120), (192, 144), (192, 108)]),
                    codec="vp9" if vp9 else "h264", audio=None if i == 2 else "aac", frame_multiple=3)
        missing = i == len(seconds) - 1
        if missing:
            expect.missing_media.append(uid)
        else:
            specs.append(spec)
        videos.append(_video_item(rng, i, spec))
        expect.video(uid)
        dur = spec.duration
        if i == 2:  # pass 1 only, timestamps mapped onto the canonical video with an offset
            entry = {"narration_pass_1": {"narrations": _narrations(rng, dur, offset=0.0210286),
                                          "summaries": _summaries(rng, dur, 1)}}
        else:
            entry = {f"narration_pass_{p}": {"narrations": _narrations(rng, dur),
                                             "summaries": _summaries(rng, dur, 1 + (p == 1 and i == 0))}
                     for p in (1, 2)}
        if i == 0:  # a tiny negative time, as in the real v2 files
            first = entry["narration_pass_2"]["narrations"][0]
            first.update(timestamp_sec=-3.999999999976245e-07, timestamp_frame=0,
                         _unmapped_timestamp_sec=-3.999999999976245e-07)
        entry["status"] = "complete"
        narr[uid] = entry
        for part in (v for k, v in entry.items() if k.startswith("narration_pass")):
            expect.span(uid, "narration", len(part["narrations"]))
            expect.span(uid, "summary", len(part["summaries"]))
    stray = uuid4(rng)  # annotations for a video ego4d.json does not list
    narr[stray] = {"narration_pass_1": {"narrations": _narrations(rng, 12.0), "summaries": []}, "status": "complete"}
    expect.bad("narration.json", None, "unlisted_video", "narrations for a video_uid not in ego4d.json",
               locator=stray)
    expect.notes += ["narrations are instants (start == end); one pass-2 narration is at -4e-07 s (clamp to 0)",
                     f"video {videos[2]['video_uid']} has only narration_pass_1, with _unmapped_timestamp_sec "
                     "!= timestamp_sec (use timestamp_sec)",
                     "one error row per unlisted video_uid, not per narration"]
    meta = {"date": "2023-02-15", "version": "v2", "description": "Ego4D sample metadata (synthetic)",
            "videos": videos, "concurrent_video_sets": [], "physical_settings": [],
            "clips": [_clip(rng, s) for s in specs[:2]]}
    files = {"ego4d.json": json.dumps(meta).encode(), "narration.json": json.dumps(narr).encode()}
    return SourceSample(NAME, files, specs, expect)
