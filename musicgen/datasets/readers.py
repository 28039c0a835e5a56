"""Dataset readers: list the MIDI files of MAESTRO, Groove or any folder, with metadata and filters.

Each reader returns ``(sources, skipped)``:

* ``sources``: a sorted list of :class:`MidiSource` (path, split, metadata) that passed the filters;
* ``skipped``: ``(path, reason)`` pairs for inconsistencies between metadata and files — rows whose
  MIDI file is missing, and MIDI files present in the folder but absent from the metadata.

Rows removed by a filter are neither sources nor skips (they were not asked for).

Metadata keys (all readers): ``id``, ``filename`` (relative to ``input_dir``), ``collection_name``,
``title``, ``composers`` (list), ``genre`` (list), ``artist`` plus dataset extras (MAESTRO: year,
duration, split; Groove: drummer, session, style, bpm, beat_type, time_signature, duration, split).
:func:`apply_metadata` copies the NoteSequence-level ones into a NoteSequence proto so that later
stages can filter on them (``ns.id``, ``ns.filename``, ``ns.collection_name``,
``ns.sequence_metadata.title / .artist / .composers / .genre``).

Example:

>>> sources, skipped = read_groove("/data/groove", style="funk", split="train")  # doctest: +SKIP
"""
from __future__ import annotations

import csv
import dataclasses
import glob
import hashlib
import json
import os
from typing import Any, Callable, Iterable, Optional, Sequence, Union

MIDI_EXTENSIONS = (".mid", ".midi")
SPLITS = ("train", "validation", "test")
ALL_SPLIT = "all"

Filter = Union[None, str, int, float, Sequence[Any]]


@dataclasses.dataclass(frozen=True)
class MidiSource:
    """One MIDI file to convert: ``path``, dataset ``split`` and ``metadata`` dict.

    ``data`` optionally holds the MIDI bytes already in memory (TFDS records); ``path`` then only names
    the item.
    """

    path: str
    split: str
    metadata: dict = dataclasses.field(default_factory=dict, hash=False, compare=False)
    data: Optional[bytes] = dataclasses.field(default=None, repr=False, hash=False, compare=False)


def note_sequence_id(filename: str, collection_name: str, source_type: str = "midi") -> str:
    """Stable id as Magenta's ``generate_note_sequence_id``: /id/<type>/<collection>/<sha1(filename)>."""
    digest = hashlib.sha1(filename.encode("utf-8")).hexdigest()
    return f"/id/{source_type.lower()}/{collection_name}/{digest}"


def apply_metadata(ns, metadata: dict):
    """Copy id / filename / collection_name / title / artist / composers / genre into ``ns``."""
    ns.id = metadata.get("id", "")
    ns.filename = metadata.get("filename", "")
    ns.collection_name = metadata.get("collection_name", "")
    meta = ns.sequence_metadata
    if metadata.get("title"):
        meta.title = metadata["title"]
    if metadata.get("artist"):
        meta.artist = metadata["artist"]
    del meta.composers[:]
    meta.composers.extend(metadata.get("composers", []))
    del meta.genre[:]
    meta.genre.extend(metadata.get("genre", []))
    return ns


# ---- filters ------------------------------------------------------------------------------------

def _as_list(value: Filter) -> Optional[list]:
    """None -> None; "a,b" -> ["a", "b"]; scalar -> [scalar]; sequence -> list."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


def _check_split(split: Filter) -> Optional[list]:
    splits = _as_list(split)
    for s in splits or []:
        if s not in SPLITS:
            raise ValueError(f"unknown split {s!r}: expected one of {', '.join(SPLITS)}")
    return splits


def _in_range(value: float, lo: Optional[float], hi: Optional[float]) -> bool:
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _exact(wanted: Optional[list], value: str) -> bool:
    return wanted is None or value.lower() in {str(w).lower() for w in wanted}


# ---- generic metadata-table reader ---------------------------------------------------------------

def _list_midi_files(input_dir: str) -> list:
    """All .mid/.midi files under ``input_dir`` (recursive), as sorted relative paths."""
    found = []
    for root, _, files in os.walk(input_dir):
        for name in files:
            if name.lower().endswith(MIDI_EXTENSIONS):
                found.append(os.path.relpath(os.path.join(root, name), input_dir))
    return sorted(found)


def _check_dir(input_dir: str) -> None:
    if not os.path.isdir(input_dir):
        raise FileNotFoundError(f"--input_dir {input_dir!r} is not a directory")


def _rows_to_sources(input_dir: str, rows: Iterable[dict], to_metadata: Callable[[dict], dict],
                     keep: Callable[[dict], bool], metadata_name: str):
    """Turn metadata rows into sources; report missing files and unlisted MIDI files as skips."""
    sources, skipped, listed = [], [], set()
    for row in rows:
        meta = to_metadata(row)
        rel = os.path.normpath(meta["filename"])
        listed.add(rel)
        if not keep(meta):
            continue
        path = os.path.join(input_dir, rel)
        if not os.path.isfile(path):
            skipped.append((path, f"listed in {metadata_name} but the file is missing"))
            continue
        sources.append(MidiSource(path=path, split=meta["split"], metadata=meta))
    for rel in _list_midi_files(input_dir):
        if os.path.normpath(rel) not in listed:
            skipped.append((os.path.join(input_dir, rel), f"MIDI file not listed in {metadata_name}"))
    sources.sort(key=lambda s: s.path)
    skipped.sort()
    return sources, skipped


# ---- MAESTRO ------------------------------------------------------------------------------------

def find_maestro_metadata(input_dir: str) -> str:
    """The MAESTRO metadata file in ``input_dir``: maestro-v*.json (v3) preferred, else .csv (v1/v2)."""
    _check_dir(input_dir)
    for ext in ("json", "csv"):
        found = sorted(glob.glob(os.path.join(input_dir, f"maestro-v*.{ext}")))
        if found:
            return found[-1]
    raise FileNotFoundError(
        f"no MAESTRO metadata (maestro-v*.json or maestro-v*.csv) in --input_dir {input_dir!r}")


def _read_maestro_rows(path: str) -> list:
    """Rows of a MAESTRO CSV (v1/v2) or column-oriented JSON (v3: {column: {row_index: value}})."""
    if path.endswith(".csv"):
        with open(path, newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    with open(path, encoding="utf-8") as f:
        table = json.load(f)
    if isinstance(table, list):  # row-oriented JSON, accepted too
        return table
    try:
        index = sorted(table["midi_filename"], key=lambda k: int(k) if str(k).isdigit() else k)
        return [{col: values.get(i) for col, values in table.items()} for i in index]
    except (KeyError, AttributeError, TypeError) as e:
        raise ValueError(f"{path}: not a MAESTRO metadata table (need a midi_filename column)") from e


def _maestro_metadata(row: dict) -> dict:
    filename = row["midi_filename"]
    composer = row.get("canonical_composer") or ""
    return {
        "id": note_sequence_id(filename, "maestro"),
        "filename": filename,
        "collection_name": "maestro",
        "title": row.get("canonical_title") or "",
        "artist": "",
        "composers": [c.strip() for c in composer.split("/") if c.strip()],
        "genre": [],
        "year": int(row["year"]) if row.get("year") not in (None, "") else None,
        "duration": float(row["duration"]) if row.get("duration") not in (None, "") else None,
        "split": row["split"],
    }


def read_maestro(input_dir: str, composer: Filter = None, year: Filter = None, split: Filter = None,
                 min_duration: Optional[float] = None, max_duration: Optional[float] = None):
    """MAESTRO v1/v2 (CSV) or v3 (JSON) performances, filtered.

    Args:
      input_dir: folder holding ``maestro-v*.csv|json`` and the ``YEAR/*.midi`` files.
      composer: case-insensitive substring(s) of the canonical composer (any matches).
      year: year(s) to keep. split: split(s) to keep. min/max_duration: seconds, inclusive.
    """
    metadata_path = find_maestro_metadata(input_dir)
    composers = [c.lower() for c in _as_list(composer) or []]
    years = {int(y) for y in _as_list(year) or []}
    splits = _check_split(split)

    def keep(meta):
        text = " / ".join(meta["composers"]).lower()
        return ((not composers or any(c in text for c in composers))
                and (not years or meta["year"] in years)
                and _exact(splits, meta["split"])
                and (meta["duration"] is None or _in_range(meta["duration"], min_duration, max_duration)))

    return _rows_to_sources(input_dir, _read_maestro_rows(metadata_path), _maestro_metadata, keep,
                            os.path.basename(metadata_path))


# ---- Groove -------------------------------------------------------------------------------------

def groove_metadata(row: dict) -> dict:
    """Metadata dict of one info.csv row (``duration`` may be empty: None)."""
    filename = row["midi_filename"]
    style = row.get("style", "")
    primary = style.split("/")[0]
    return {
        "id": note_sequence_id(filename, "groove"),
        "filename": filename,
        "collection_name": "groove",
        "title": row.get("id", ""),
        "artist": row.get("drummer", ""),
        "composers": [],
        "genre": [primary] + ([style] if style != primary else []),
        "drummer": row.get("drummer", ""),
        "session": row.get("session", ""),
        "style": style,
        "bpm": int(row["bpm"]),
        "beat_type": row.get("beat_type", ""),
        "time_signature": row.get("time_signature", ""),
        "duration": float(row["duration"]) if row.get("duration") not in (None, "") else None,
        "split": row["split"],
    }


def groove_filter(drummer: Filter = None, style: Filter = None, min_bpm: Optional[float] = None,
                  max_bpm: Optional[float] = None, beat_type: Filter = None,
                  time_signature: Filter = None, split: Filter = None,
                  min_duration: Optional[float] = None,
                  max_duration: Optional[float] = None) -> Callable[[dict], bool]:
    """Predicate on Groove metadata dicts (see :func:`read_groove` for the meaning of each filter)."""
    drummers, beat_types = _as_list(drummer), _as_list(beat_type)
    styles = [s.lower() for s in _as_list(style) or []]
    signatures = [str(t).replace("/", "-") for t in _as_list(time_signature) or []] or None
    splits = _check_split(split)

    def keep(meta: dict) -> bool:
        full = meta["style"].lower()
        return (_exact(drummers, meta["drummer"])
                and (not styles or full in styles or full.split("/")[0] in styles)
                and _in_range(meta["bpm"], min_bpm, max_bpm)
                and _exact(beat_types, meta["beat_type"])
                and _exact(signatures, meta["time_signature"])
                and _exact(splits, meta["split"])
                and (meta["duration"] is None or _in_range(meta["duration"], min_duration, max_duration)))

    return keep


def read_groove(input_dir: str, **filters):
    """Groove MIDI Dataset performances listed in ``info.csv``, filtered.

    Filters: ``drummer`` ("drummer1"), ``style`` — the primary style (before '/', e.g. "funk") or the
    full style ("funk/groove1"), case-insensitive — ``min_bpm``/``max_bpm``, ``beat_type`` ("beat" or
    "fill"), ``time_signature`` as in info.csv ("4-4"; "4/4" accepted), ``split``,
    ``min_duration``/``max_duration`` (seconds). Lists or comma-separated strings match any value.
    """
    _check_dir(input_dir)
    keep = groove_filter(**filters)
    info = os.path.join(input_dir, "info.csv")
    if not os.path.isfile(info):
        raise FileNotFoundError(f"no info.csv in --input_dir {input_dir!r} (is it the Groove folder?)")
    with open(info, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return _rows_to_sources(input_dir, rows, groove_metadata, keep, "info.csv")


# ---- any folder ---------------------------------------------------------------------------------

def read_folder(input_dir: str, collection_name: Optional[str] = None):
    """Every .mid/.midi file under ``input_dir`` (recursive), split "all"; nothing is skipped here."""
    _check_dir(input_dir)
    collection = collection_name or os.path.basename(os.path.normpath(input_dir))
    sources = []
    for rel in _list_midi_files(input_dir):
        meta = {"id": note_sequence_id(rel, collection), "filename": rel,
                "collection_name": collection, "title": os.path.splitext(os.path.basename(rel))[0],
                "artist": "", "composers": [], "genre": [], "split": ALL_SPLIT}
        sources.append(MidiSource(path=os.path.join(input_dir, rel), split=ALL_SPLIT, metadata=meta))
    return sources, []


READERS = {"maestro": read_maestro, "groove": read_groove, "dir": read_folder}
