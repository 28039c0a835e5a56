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


def pitch_class_weights(notes: Iterable[Tuple[int, int, int]], start: int, end: int):
    """(weights[12], bass pitch class or None) of notes (pitch, start, end) sounding in [start, end)."""
    weights = np.zeros(12)
    bass = None
    for pitch, note_start, note_end in notes:
        overlap = min(note_end, end) - max(note_start, start)
        if overlap > 0:
            weights[pitch % 12] += overlap
            bass = pitch if bass is None or pitch < bass else bass
    return weights, None if bass is None else bass % 12


def match_chord(profile, min_score: float = DEFAULT_MIN_SCORE) -> Chord:
    """Best (root, quality) for a `pitch_class_weights` result, or None (N.C.)."""
    weights, bass = profile
    total = float(np.sum(weights))
    if total <= 0:
        return None
    w = np.asarray(weights, dtype=np.float64) / total
    sounding = w > 0
    best, best_key = None, None
    for order, (root, quality, mask) in enumerate(_TEMPLATES):
        score = w[mask].sum() - w[~mask].sum() - MISSING_PENALTY * np.sum(mask & ~sounding)
        key = (round(score, 9), root == bass, -order)
        if best_key is None or key > best_key:
            best, best_key = (root, quality), key
    return best if best_key[0] >= min_score else None
