"""Realism features of the pitched (non-drum) notes of NoteSequences, one sample at a time.

Times are seconds as written in the NoteSequence; a beat is a quarter note at its first tempo
(120 qpm when it has none). Notes are sorted by (onset, pitch); an onset group is a run of notes
starting within `ONSET_TOLERANCE` (10 ms) of the group's first note. A sample without pitched
notes has NaN features (left out of every comparison).

* `pitch_class_hist`: share of the notes on each pitch class C, C#, ... B (12 values);
* `pitch_class_entropy`: Shannon entropy (bits) of that histogram (0 .. log2 12 = 3.58);
* `interval_hist`: share of each interval -12 .. +12 semitones (25 bins; larger leaps clipped to
  +-12) between the highest notes of successive onset groups (undefined below 2 groups);
* `pitch_range`: highest minus lowest pitch (semitones);
* `note_density`: notes per second, over 0 .. the last note's end;
* `polyphony`: mean over onset groups of the number of notes sounding at the group's onset
  (start <= onset + tolerance and end > onset);
* `empty_beat_rate`: share of the beats [k b, (k + 1) b) from 0 to the last note's end in which no
  note sounds;
* `scale_consistency`: the largest share of notes whose pitch class is in one major scale, over the
  12 major scales (a natural minor scale has the pitch classes of its relative major, so this is
  also the best major-or-minor share).

>>> from note_seq.protobuf import music_pb2
>>> ns = music_pb2.NoteSequence(); _ = ns.tempos.add(qpm=120)
>>> for i, p in enumerate([60, 62, 64, 66]):                   # C D E F#, one per beat (0.5 s)
...     _ = ns.notes.add(pitch=p, velocity=80, start_time=0.5 * i, end_time=0.5 * i + 0.5)
>>> f = sample_features(ns)
>>> f["pitch_class_entropy"], f["pitch_range"], f["note_density"], f["polyphony"], f["scale_consistency"]
(2.0, 6.0, 2.0, 1.0, 1.0)
>>> (np.nonzero(f["interval_hist"])[0] - 12).tolist(), f["empty_beat_rate"]
([2], 0.0)
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

ONSET_TOLERANCE = 0.01
MAX_INTERVAL = 12
MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
SCALES = np.array([[(pc - root) % 12 in MAJOR_SCALE for pc in range(12)] for root in range(12)])

#: (name, label, kind) of every per-sample feature, in report order; kind: scalar | histogram
FEATURES = (
    ("pitch_class_hist", "pitch-class histogram", "histogram"),
    ("pitch_class_entropy", "pitch-class entropy (bits)", "scalar"),
    ("interval_hist", "interval histogram", "histogram"),
    ("pitch_range", "pitch range (semitones)", "scalar"),
    ("note_density", "note density (notes/s)", "scalar"),
    ("polyphony", "polyphony (notes at onsets)", "scalar"),
    ("empty_beat_rate", "empty-beat rate", "scalar"),
    ("scale_consistency", "scale consistency", "scalar"),
)

#: bin centres of the histogram features (pitch class; interval in semitones)
BINS = {"pitch_class_hist": list(range(12)),
        "interval_hist": list(range(-MAX_INTERVAL, MAX_INTERVAL + 1))}


def onset_groups(notes: list) -> list:
    """Lists of notes (sorted by onset, pitch) starting within ONSET_TOLERANCE of each other."""
    groups = []
    for note in notes:
        if groups and note.start_time - groups[-1][0].start_time <= ONSET_TOLERANCE:
            groups[-1].append(note)
        else:
            groups.append([note])
    return groups


def _nan_features() -> dict:
    nan = float("nan")
    out = {name: nan for name, _, kind in FEATURES if kind == "scalar"}
    out["pitch_class_hist"] = np.full(12, nan)
    out["interval_hist"] = np.full(2 * MAX_INTERVAL + 1, nan)
    return out


def sample_features(ns) -> dict:
    """The per-sample features (module doc) of the pitched notes of one NoteSequence."""
    notes = sorted((n for n in ns.notes if not n.is_drum), key=lambda n: (n.start_time, n.pitch))
    if not notes:
        return _nan_features()
    out = _nan_features()
    pitches = np.array([n.pitch for n in notes])
    starts = np.array([n.start_time for n in notes])
    ends = np.array([n.end_time for n in notes])
    pc = np.bincount(pitches % 12, minlength=12) / len(notes)
    out["pitch_class_hist"] = pc
    nz = pc[pc > 0]
    out["pitch_class_entropy"] = float(-(nz * np.log2(nz)).sum())
    groups = onset_groups(notes)
    if len(groups) >= 2:
        tops = np.array([max(n.pitch for n in g) for g in groups])
        steps = np.clip(np.diff(tops), -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL
        out["interval_hist"] = np.bincount(steps, minlength=2 * MAX_INTERVAL + 1) / len(steps)
    out["pitch_range"] = float(pitches.max() - pitches.min())
    end = float(ends.max())
    out["note_density"] = len(notes) / end if end > 0 else float("nan")
    out["polyphony"] = float(np.mean([
        ((starts <= g[0].start_time + ONSET_TOLERANCE) & (ends > g[0].start_time)).sum()
        for g in groups]))
    beat = 60.0 / (ns.tempos[0].qpm if ns.tempos else 120.0)
    num_beats = max(1, int(np.ceil(end / beat - 1e-9)))
    lo = np.arange(num_beats) * beat
    sounding = (starts[None, :] < lo[:, None] + beat) & (ends[None, :] > lo[:, None])
    out["empty_beat_rate"] = float((~sounding.any(axis=1)).mean())
    out["scale_consistency"] = float((SCALES[:, pitches % 12]).mean(axis=1).max())
    return out


def set_features(sequences: Sequence) -> dict:
    """name -> list of per-sample values (scalars or histogram vectors) over `sequences`."""
    rows = [sample_features(ns) for ns in sequences]
    return {name: [r[name] for r in rows] for name, _, _ in FEATURES}
