"""HowTo100M: videos from `HowTo100M_v1.csv` (named tasks from `task_ids.csv`), ASR spans from `caption.json`.

One CSV row is a (video, WikiHow task) pair; rows are merged into one Video per video_id in two
streaming passes, holding only the ids (and the tasks of the few repeated ids) in memory.
caption.json (several GB) is streamed one video at a time with ijson.kvitems.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator


from longvid.records import ErrorRow, Record, Span, Video, video_uid
from longvid.sources.jsonstream import listed_entries
from longvid.sources.base import MissingManifest, Reject, Where, csv_rows, parse_each, require
from longvid.timecodes import interval, seconds

NAME = "howto100m"
VIDEOS, TASKS = "HowTo100M_v1.csv", "task_ids.csv"
CAPTIONS = ("caption.json", "raw_caption.json")  # raw_caption.json only when caption.json is absent
COLUMNS = ("video_id", "category_1", "category_2", "rank", "task_id")


def _locate(manifest_dir: Path, name: str) -> Path | None:
    """manifest_dir/<name>, else <name> one folder below (the zip unpacks into HowTo100M/)."""
    if (manifest_dir / name).is_file():
        return manifest_dir / name
    return next((p for p in sorted(manifest_dir.glob(f"*/{name}")) if p.is_file()), None)


def files(manifest_dir: Path) -> list[Path]:
    """HowTo100M_v1.csv, task_ids.csv and caption.json (or raw_caption.json)."""
    manifest_dir = Path(manifest_dir)
    found = [_locate(manifest_dir, VIDEOS) or require(manifest_dir / VIDEOS, NAME),
             _locate(manifest_dir, TASKS) or require(manifest_dir / TASKS, NAME)]
    captions = _locate(manifest_dir, CAPTIONS[0]) or _locate(manifest_dir, CAPTIONS[1])
    if captions is None:
        try:
            require(manifest_dir / CAPTIONS[0], NAME)
        except MissingManifest as e:
            raise MissingManifest(f"{e} (nor {CAPTIONS[1]!r}, nor either one folder below)") from None
    return [*found, captions]


def _integer(text: str) -> int | None:
    """An int from a cell such as '27' or '27.0'; None when it is not a whole number."""
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return None
        return int(value) if value.is_integer() else None


def _read_tasks(path: Path, tasks: dict[int, str]) -> Iterator[ErrorRow]:
    """Fill `tasks` (task_id -> name) from the header-less TSV; yield error rows for bad lines."""
    first = True
    for where, row in csv_rows(path, NAME, delimiter="\t", header=False):
        header, first = first, False
        if isinstance(row, Reject):
            yield where.error(row.cause, row.detail, dropped=row.dropped)
        elif (task_id := _integer(row[0].strip())) is None:
            if not header:  # a fork's `id<TAB>task_name` header line is skipped
                yield where.error("bad_number", f"task id {row[0]!r} is not an integer")
        elif len(row) != 2:
            yield where.error("bad_csv", f"line has {len(row)} tab-separated fields, not 2")
        elif not row[1].strip():
            yield where.error("missing_field", f"task {task_id} has no name")
        elif task_id in tasks:
            same = "identical" if tasks[task_id] == row[1] else f"different ({tasks[task_id]!r} kept)"
            yield where.error("duplicate_row", f"task {task_id} listed again, {same}")
        else:
            tasks[task_id] = row[1]


def _cell(row: dict[str, str], key: str) -> str | None:
    """A text cell verbatim; empty (or absent) -> None."""
    text = row.get(key)
    return text if text and text.strip() else None


def _video_id(row: Any) -> str:
    return row.get("video_id", "").strip() if isinstance(row, dict) else ""


def _repeated_ids(path: Path, seen: set[str]) -> set[str]:
    """Pass 1: fill `seen` with every video id; return those on more than one row."""
    repeated: set[str] = set()
    for _, row in csv_rows(path, NAME):
        video_id = _video_id(row)
        if video_id:
            (repeated if video_id in seen else seen).add(video_id)
    return repeated


def _number_cell(row: dict[str, str], key: str, where: Where, errors: list[ErrorRow], uid: str) -> int | str | None:
    """An integer cell; empty -> None; not an integer -> the raw text plus a kept-error row."""
    text = (row.get(key) or "").strip()
    if not text:
        return None
    value = _integer(text)
    if value is None:
        errors.append(where.error("bad_number", f"{key} {text!r} is not an integer", dropped=False, video_uid=uid))
        return text
    return value


class _Videos:
    """Pass 2: single-row videos at once, repeated ids gathered and emitted by `rest()`."""

    def __init__(self, tasks: dict[int, str], repeated: set[str]):
        self.tasks, self.repeated = tasks, repeated
        self.gathered: dict[str, tuple[list[dict[str, Any]], set[tuple[str, ...]]]] = {}

    def parse(self, row: dict[str, str], where: Where) -> list[Record]:
        video_id = _video_id(row)
        if not video_id:
            raise Reject("missing_field", "row has no video_id")
        errors: list[ErrorRow] = []
        uid = video_uid(NAME, video_id)
        task_id = _number_cell(row, "task_id", where, errors, uid)
        entry = {
            "task_id": task_id,
            "task_name": self.tasks.get(task_id) if isinstance(task_id, int) else None,
            "category_1": _cell(row, "category_1"),
            "category_2": _cell(row, "category_2"),
            "rank": _number_cell(row, "rank", where, errors, uid),
            **{k: v for k, v in row.items() if k not in COLUMNS},  # columns a fork added
        }
        if video_id not in self.repeated:
            return [_video(video_id, [entry]), *errors]
        tasks, rows = self.gathered.setdefault(video_id, ([], set()))
        key = tuple(row.values())
        if key in rows:
            raise Reject("duplicate_row", f"row repeats an earlier row of video {video_id} exactly")
        rows.add(key)
        tasks.append(entry)
        return errors

    def rest(self) -> Iterator[Video]:
        for video_id, (tasks, _) in self.gathered.items():
            yield _video(video_id, tasks)
        self.gathered.clear()


def _video(video_id: str, tasks: list[dict[str, Any]]) -> Video:
    return Video(
        source=NAME, native_id=video_id, url=f"https://www.youtube.com/watch?v={video_id}",
        media_path=f"{video_id}.mp4", youtube_id=video_id, origin=VIDEOS, extra={"tasks": tasks},
    )


def _caption_items(path: Path, known: set[str]) -> Iterator[tuple[Where, Any]]:
    """Listed videos' caption entries. Ids move out of `known` as they are read, so a repeated
    key is told from an unlisted one without a second set of all ids."""
    def skipped(value: Any) -> str:
        n = len(value["text"]) if isinstance(value, dict) and isinstance(value.get("text"), list) else 0
        return f"{n} segments"

    return listed_entries(path, NAME, known, VIDEOS, skipped, consume=True)


def _parse_captions(item: tuple[str, Any], where: Where) -> list[Record]:
    """One video's parallel start/end/text arrays -> ASR spans (and error rows for bad segments)."""
    video_id, value = item
    if not isinstance(value, dict):
        raise Reject("bad_type", f"captions are {type(value).__name__}, not an object")
    missing = [k for k in ("start", "end", "text") if k not in value]
    if missing:
        raise Reject("missing_field", f"captions lack {', '.join(missing)}")
    starts, ends, texts = value["start"], value["end"], value["text"]
    if not all(isinstance(a, list) for a in (starts, ends, texts)):
        raise Reject("bad_type", "start, end and text must all be lists")
    out: list[Record] = []
    uid, sizes = video_uid(NAME, video_id), (len(starts), len(ends), len(texts))
    if len(set(sizes)) > 1:
        out.append(where.error("ragged_arrays", "start/end/text have {}/{}/{} items; the first {} are used".format(
            *sizes, min(sizes)), dropped=False, video_uid=uid))
    other = {k: v for k, v in value.items() if k not in ("start", "end", "text")}
    for i, segment in enumerate(zip(starts, ends, texts)):
        try:
            out.append(_segment(video_id, *segment, {**other, "index": i}, where.file))
        except Reject as r:
            here = Where(NAME, where.file, locator=f"{where.locator}[{i}]", raw=segment)
            out.append(here.error(r.cause, r.detail, dropped=r.dropped, video_uid=uid))
    return out


def _segment(video_id: str, start: Any, end: Any, text: Any, extra: dict[str, Any], origin: str) -> Span:
    """One caption segment -> an ASR span (Reject on a bad time or text)."""
    try:
        start, end = seconds(start, "start"), seconds(end, "end")
    except ValueError as e:
        raise Reject("bad_time", str(e)) from None
    try:
        start, end = interval(start, end, "segment")
    except ValueError as e:
        raise Reject("bad_interval", str(e)) from None
    if not isinstance(text, str):
        raise Reject("bad_type", f"text {text!r} is not a string")
    return Span(source=NAME, native_id=video_id, start=start, end=end, text=text, kind="asr",
                origin=origin, extra=extra)


def read(manifest_dir: Path) -> Iterator[Record]:
    """Task-name errors, then videos (one per video_id), then ASR spans, error rows as found."""
    videos_csv, tasks_tsv, captions = files(Path(manifest_dir))
    tasks: dict[int, str] = {}
    yield from _read_tasks(tasks_tsv, tasks)
    seen: set[str] = set()
    videos = _Videos(tasks, _repeated_ids(videos_csv, seen))
    yield from parse_each(csv_rows(videos_csv, NAME), videos.parse)
    yield from videos.rest()
    tasks.clear()
    yield from parse_each(_caption_items(captions, seen), _parse_captions)
