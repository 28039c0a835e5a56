"""Dataset readers: list the MIDI files of MAESTRO, Groove or any folder, with metadata and filters.

Each reader returns ``(sources, skipped)``:

* ``sources``: a sorted list of :class:`MidiSource` (path, split, metadata) that passed the filters;
* ``skipped``: ``(path, reason)`` pairs for inconsistencies between metadata and files — rows whose
  MIDI file is missing, and MIDI files present in the folder but absent from the metadata.

Rows removed by a filter are neither sources nor skips (they were not asked for).

Splits: MAESTRO and Groove keep their official split (metadata column). A plain folder
(:func:`read_folder`) is split by ``split_by``:

* ``"hash"``: by a stable hash of each file's POSIX path relative to ``input_dir`` — the first 8 bytes
  of its SHA-1 as a number ``u`` in [0, 1): ``u < validation_fraction`` -> validation,
  ``u >= 1 - test_fraction`` -> test, else train (:func:`hash_split`). A file's split depends on its
  own path only: adding or removing other files never moves it, and raising one fraction only moves
  files out of train.
* ``"folders"``: by the top-level folder: ``train/``, ``validation/`` (also ``valid/``, ``val/``,
  ``dev/``) or ``test/`` (case-insensitive). MIDI files outside those folders are *skipped* with a reason
  (not guessed into a split): a curated test set stays exactly what its folder holds.
* ``"auto"`` (default): ``"folders"`` when ``input_dir`` has at least one such top-level folder, else
  ``"hash"``.
* ``"none"``: the old single split ``"all"`` (for ``make_examples`` users of ``all-*`` shards).

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
SPLIT_BY = ("auto", "hash", "folders", "none")
# top-level folder name (lower case) -> split, for split_by="folders"
SPLIT_FOLDER_NAMES = {"train": "train", "validation": "validation", "valid": "validation",
                      "val": "validation", "dev": "validation", "test": "test"}
DEFAULT_VALIDATION_FRACTION = 0.1
DEFAULT_TEST_FRACTION = 0.1

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

def check_fractions(validation_fraction: float, test_fraction: float) -> None:
    """ValueError naming the flag unless 0 <= each fraction < 1 and their sum < 1."""
    for name, value in (("validation_fraction", validation_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise ValueError(f"--{name}={value}: must be a number with 0 <= {name} < 1")
    if validation_fraction + test_fraction >= 1:
        raise ValueError(f"--validation_fraction={validation_fraction} + --test_fraction={test_fraction}"
                         f" = {validation_fraction + test_fraction:g}: the sum must be < 1 "
                         "(train gets the rest)")


def hash_fraction(relpath: str) -> float:
    """A stable number in [0, 1) of a relative path: the first 8 bytes of sha1(POSIX path)."""
    posix = relpath.replace(os.sep, "/")
    return int.from_bytes(hashlib.sha1(posix.encode("utf-8")).digest()[:8], "big") / 2.0 ** 64


def hash_split(relpath: str, validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
               test_fraction: float = DEFAULT_TEST_FRACTION) -> str:
    """The split of a file by the hash of its path relative to the dataset folder.

    ``u = hash_fraction(relpath)``: validation when ``u < validation_fraction``, test when
    ``u >= 1 - test_fraction``, else train.

    >>> hash_split("jigs1.mid", 0.1, 0.1) == hash_split("jigs1.mid", 0.1, 0.1)
    True
    >>> hash_split("jigs1.mid", 0.0, 0.0)
    'train'
    """
    u = hash_fraction(relpath)
    if u < validation_fraction:
        return "validation"
    if u >= 1.0 - test_fraction:
        return "test"
    return "train"


def split_folders(input_dir: str) -> dict:
    """Top-level sub-folders of ``input_dir`` that name a split: {folder name: split}, sorted."""
    found = {}
    for entry in sorted(os.listdir(input_dir)):
        split = SPLIT_FOLDER_NAMES.get(entry.lower())
        if split and os.path.isdir(os.path.join(input_dir, entry)):
            found[entry] = split
    return found


def folder_split_method(input_dir: str, split_by: str = "auto") -> str:
    """``split_by`` resolved for ``input_dir``: "hash", "folders" or "none" (see the module doc)."""
    if split_by not in SPLIT_BY:
        raise ValueError(f"--split_by={split_by!r}: expected one of {', '.join(SPLIT_BY)}")
    if split_by == "auto":
        return "folders" if split_folders(input_dir) else "hash"
    if split_by == "folders" and not split_folders(input_dir):
        raise ValueError(f"--split_by=folders: {input_dir!r} has no top-level split folder "
                         f"({', '.join(n + '/' for n in SPLIT_FOLDER_NAMES)})")
    return split_by


def read_folder(input_dir: str, collection_name: Optional[str] = None, split_by: str = "auto",
                validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
                test_fraction: float = DEFAULT_TEST_FRACTION, split: Filter = None):
    """Every .mid/.midi file under ``input_dir`` (recursive), split by ``split_by`` (module doc).

    ``collection_name`` defaults to the folder's name; ``split`` keeps only the given split(s).
    Skipped (``split_by`` "folders"): MIDI files outside the split folders.
    """
    _check_dir(input_dir)
    check_fractions(validation_fraction, test_fraction)
    method = folder_split_method(input_dir, split_by)
    splits = _check_split(split)
    if splits and method == "none":
        raise ValueError("--split cannot select files with --split_by=none (every file is split 'all')")
    folders = split_folders(input_dir) if method == "folders" else {}
    collection = collection_name or os.path.basename(os.path.normpath(input_dir))
    sources, skipped = [], []
    for rel in _list_midi_files(input_dir):
        path = os.path.join(input_dir, rel)
        posix = rel.replace(os.sep, "/")
        if method == "hash":
            file_split = hash_split(posix, validation_fraction, test_fraction)
        elif method == "folders":
            top = posix.split("/", 1)[0] if "/" in posix else None
            if top not in folders:
                skipped.append((path, f"outside the split folders ({', '.join(f + '/' for f in folders)})"
                                      " of a folder split by them (--split_by=hash splits every file)"))
                continue
            file_split = folders[top]
        else:
            file_split = ALL_SPLIT
        if not _exact(splits, file_split):
            continue
        meta = {"id": note_sequence_id(rel, collection), "filename": rel,
                "collection_name": collection, "title": os.path.splitext(os.path.basename(rel))[0],
                "artist": "", "composers": [], "genre": [], "split": file_split}
        sources.append(MidiSource(path=path, split=file_split, metadata=meta))
    return sources, skipped


READERS = {"maestro": read_maestro, "groove": read_groove, "dir": read_folder}
