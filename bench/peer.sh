#!/bin/bash
# Side by side with video2dataset 1.3.0 on N WebVid-format videos served over loopback HTTP
# (../shared/bench/peer_video2dataset.sh, run as it is), then, from the same run, longvid's peak
# disk use against its final shards and its per-stage rates (from the corpus's build.json).
#
#   bench/peer.sh [N_VIDEOS=120] [SHARED=../shared]     (KEEP=1 keeps the run's folder)
#
# Makes video2dataset's environment first if needed (/tmp/v2d, /tmp/ffbin/ffmpeg; idempotent).
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-120}
shared=$(cd "${2:-$repo/../shared}" && pwd)
V2D=${V2D:-/tmp/v2d}
bash "$shared/bench/setup_video2dataset.sh" "$V2D" >/dev/null
export PATH=/tmp/ffbin:$PATH V2D
out=$(bash "$shared/bench/peer_video2dataset.sh" "$repo" "$n")
echo "$out"
work=$(echo "$out" | sed -n 's/^workdir //p')
"$repo/.venv/bin/python" - "$work" <<'PY'
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
summary = json.loads((work / "lv" / "build.json").read_text())["build"]["summary"]
disk = summary["disk"]
mib = lambda b: b / 2**20
print(f"longvid disk: peak {mib(disk['peak_bytes']):.0f} MiB, final shards {mib(disk['shard_bytes']):.0f} MiB "
      f"-> peak/shards {disk['peak_over_shards']:.2f}x; whole corpus at the end {mib(disk['final_bytes']):.0f} MiB")
print(f"longvid inside the build (after Ray is up): {summary['wall_seconds']:.1f} s, {summary['videos_per_second']:.2f} videos/s")
print("longvid per stage, videos/s of one worker (seconds per video): " + ", ".join(
    f"{k} {v:.1f} ({1 / v * 1000:.0f} ms)" for k, v in summary["stage_videos_per_second"].items()))
for name, folder in (("video2dataset", work / "v2d"), ("longvid media/", work / "lv" / "media"),
                     ("longvid staging/", work / "lv" / "staging"), ("longvid shards/", work / "lv" / "shards")):
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0
    print(f"at the end, {name}: {mib(size):.0f} MiB")
PY
# the run's folder holds both corpora (GBs): removed unless KEEP=1
[ "${KEEP:-0}" = 1 ] || rm -rf "$work"
