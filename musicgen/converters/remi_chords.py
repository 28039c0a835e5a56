"""A small chord template matcher for REMI Chord tokens.

Vocabulary: 12 roots x {maj, min, dim, aug, dom7} + N.C. (no chord).

`match_chord` scores each template against a duration-weighted pitch-class profile
(weights normalised to sum 1):

    score = sum(weights of template tones) - sum(weights of other tones)
            - MISSING_PENALTY * (number of template tones that do not sound)

The best template wins; ties go to the template whose root is the bass (lowest) pitch
class, then to the order of QUALITIES. N.C. when nothing sounds or the best score is
below `min_score` (a lone note or an unclear cluster).

>>> chord_name(match_chord(pitch_class_weights([(60, 0, 4), (64, 0, 4), (67, 0, 4)], 0, 4)))
'C:maj'
"""
from __future__ import annotations

from typing import Iterable, Optional, Tuple

import numpy as np

PITCH_CLASS_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
QUALITIES = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "dom7": (0, 4, 7, 10),
}
# note_seq-style chord symbol suffixes, for NoteSequence CHORD_SYMBOL annotations.
SYMBOL_SUFFIX = {"maj": "", "min": "m", "dim": "dim", "aug": "aug", "dom7": "7"}
NO_CHORD = "N.C."
MISSING_PENALTY = 0.3
DEFAULT_MIN_SCORE = 0.5

Chord = Optional[Tuple[int, str]]  # (root pitch class, quality) or None for N.C.

_TEMPLATES = [(root, quality, np.isin(np.arange(12), [(root + i) % 12 for i in intervals]))
              for quality, intervals in QUALITIES.items() for root in range(12)]
_MASKS = np.array([mask for _, _, mask in _TEMPLATES])          # (60, 12) bool
_ROOTS = np.array([root for root, _, _ in _TEMPLATES])

def chord_names() -> list:
    """All chord token names in vocabulary order: C:maj, C#:maj, ..., B:dom7, N.C."""
    return [chord_name((root, quality)) for root, quality, _ in _TEMPLATES] + [NO_CHORD]


def chord_name(chord: Chord) -> str:
    return NO_CHORD if chord is None else f"{PITCH_CLASS_NAMES[chord[0]]}:{chord[1]}"


def parse_chord_name(name: str) -> Chord:
    if name == NO_CHORD:
        return None
    root, quality = name.split(":")
    return PITCH_CLASS_NAMES.index(root), quality


def chord_symbol(chord: Chord) -> str:
    """note_seq chord symbol text ('C', 'F#m', 'Bdim', 'Caug', 'G7', 'N.C.')."""
    return NO_CHORD if chord is None else PITCH_CLASS_NAMES[chord[0]] + SYMBOL_SUFFIX[chord[1]]


def segment_profiles(notes: Iterable[Tuple[int, int, int]], start: int, segment_steps: int,
                     num_segments: int) -> list:
    """`pitch_class_weights` of consecutive segments [start + k*segment_steps, ...) at once.

    Runs in time proportional to the notes (each note only visits the segments it overlaps).
    """
    weights = np.zeros((num_segments, 12))
    bass = [None] * num_segments
    end = start + segment_steps * num_segments
    for pitch, note_start, note_end in notes:
        lo, hi = max(note_start, start), min(note_end, end)
        if hi <= lo:
            continue
        for k in range((lo - start) // segment_steps, (hi - 1 - start) // segment_steps + 1):
            seg_start = start + k * segment_steps
            weights[k, pitch % 12] += min(hi, seg_start + segment_steps) - max(lo, seg_start)
            bass[k] = pitch if bass[k] is None or pitch < bass[k] else bass[k]
    return [(weights[k], None if bass[k] is None else bass[k] % 12) for k in range(num_segments)]


def pitch_class_weights(notes: Iterable[Tuple[int, int, int]], start: int, end: int):
    """(weights[12], bass pitch class or None) of notes (pitch, start, end) sounding in [start, end)."""
    return segment_profiles(notes, start, end - start, 1)[0]


def match_chord(profile, min_score: float = DEFAULT_MIN_SCORE) -> Chord:
    """Best (root, quality) for a `pitch_class_weights` result, or None (N.C.)."""
    weights, bass = profile
    total = float(np.sum(weights))
    if total <= 0:
        return None
    w = np.asarray(weights, dtype=np.float64) / total
    inside = _MASKS @ w
    missing = np.sum(_MASKS & ~(w > 0), axis=1)
    scores = np.round(2 * inside - 1 - MISSING_PENALTY * missing, 9)
    # Highest score, then root == bass, then template order.
    best = np.lexsort((np.arange(len(_TEMPLATES)), ~(_ROOTS == bass), -scores))[0]
    if scores[best] < min_score:
        return None
    return int(_ROOTS[best]), _TEMPLATES[best][1]
