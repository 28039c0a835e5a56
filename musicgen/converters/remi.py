"""REMI converter (Huang & Yang 2020, "Pop Music Transformer"): bar/position tokens.

Token stream of one window (bars of `positions_per_bar` = 16 sixteenth-note positions;
every bar is 4/4-sized, time signatures are not encoded, as in REMI):

    Bar TempoClass_<slow|mid|fast> TempoValue_<0..59>         (tempo: first bar of a window)
    Position_<p> [Chord_<root>:<quality>] (Velocity_<v> Pitch_<k> Duration_<d>)*   per onset
    Bar ...                                                   (empty bars: just `Bar`)
    [EOS]                                                     (add_end_token, end of piece)

* Tempo (quarter notes per minute, rounded to an integer and clipped to 30..209): class
  slow 30-89 / mid 90-149 / fast 150-209, value = qpm - class start (REMI's bins).
* Chord (use_chords): the template matcher of `remi_chords` over every `chord_steps`
  (default 8 = half a bar) segment; a Chord token is written, after the segment's first
  Position, whenever the chord differs from the previous segment (and at the first
  segment of each window). Chords are decoded into CHORD_SYMBOL text annotations.
* Velocity: 32 bins (note_seq.performance_lib.velocity_to_bin), one per note.
* Pitch: note-on, min_pitch..max_pitch.
* Duration: 1..64 sixteenth-note steps (up to 4 bars; longer notes are clipped). The
  Pop Music Transformer used 64 bins of a 32nd note; we keep durations on the same
  16th grid as onsets so that decode(encode(x)) is exact on that grid.

Timing is that of `sequences_lib.quantize_note_sequence(ns, steps_per_quarter=4)`; encoding
and decoding run on note arrays (`remi_codec`, no per-note Python). The base class first splits the sequence on tempo / time-signature changes. Sustain is
applied, drums and out-of-range pitches are dropped; train mode adds the same
stretch/transpose augmentation as PerformanceConverter (stretching changes the tempo).

Tensors: a language-model representation, `inputs` == `outputs` == one-hot tokens
(T, vocab_size); `lengths` = tokens per window. With `max_tokens`, windows are made of
whole bars (greedy; a single bar longer than max_tokens is cut after its last complete
note). The vocabulary (`converter.vocabulary`) is saved as JSON beside the data.
"""
from __future__ import annotations

import json
from typing import Optional, Sequence

import numpy as np
from note_seq import constants
from note_seq.protobuf import music_pb2

from musicgen.converters import remi_chords, remi_codec, token_utils
from musicgen.converters.note_arrays import NoteArrays

TEMPO_CLASSES = (("slow", 30), ("mid", 90), ("fast", 150))
TEMPO_VALUES = 60
MIN_QPM, MAX_QPM = 30, 209
VOCAB_FORMAT = "musicgen.remi_vocabulary/1"
NOTE_TOKENS = ("Velocity", "Pitch", "Duration")
CHORD_SYMBOL = music_pb2.NoteSequence.TextAnnotation.CHORD_SYMBOL


def tempo_tokens(qpm: float) -> list:
    """[TempoClass_x, TempoValue_y] of a tempo (rounded, clipped to 30..209)."""
    q = int(np.clip(round(qpm), MIN_QPM, MAX_QPM))
    name, start = [c for c in TEMPO_CLASSES if c[1] <= q][-1]
    return [f"TempoClass_{name}", f"TempoValue_{q - start}"]


class RemiVocabulary:
    """Ordered REMI token list with JSON save/load; ids are list positions."""

    def __init__(self, tokens: Sequence[str], config: Optional[dict] = None):
        self.tokens = list(tokens)
        self.config = dict(config or {})
        self._ids = {t: i for i, t in enumerate(self.tokens)}
        if len(self._ids) != len(self.tokens):
            raise ValueError("REMI vocabulary has duplicate tokens")

    @classmethod
    def build(cls, positions_per_bar=16, num_velocity_bins=32, max_duration_steps=64,
              min_pitch=0, max_pitch=127, use_chords=True, add_end_token=False):
        config = dict(positions_per_bar=positions_per_bar, num_velocity_bins=num_velocity_bins,
                      max_duration_steps=max_duration_steps, min_pitch=min_pitch,
                      max_pitch=max_pitch, use_chords=use_chords, add_end_token=add_end_token)
        tokens = ["Bar"] + [f"Position_{p}" for p in range(positions_per_bar)]
        tokens += [f"TempoClass_{name}" for name, _ in TEMPO_CLASSES]
        tokens += [f"TempoValue_{v}" for v in range(TEMPO_VALUES)]
        if use_chords:
            tokens += [f"Chord_{name}" for name in remi_chords.chord_names()]
        tokens += [f"Velocity_{v}" for v in range(1, num_velocity_bins + 1)]
        tokens += [f"Pitch_{p}" for p in range(min_pitch, max_pitch + 1)]
        tokens += [f"Duration_{d}" for d in range(1, max_duration_steps + 1)]
        if add_end_token:
            tokens.append("EOS")
        return cls(tokens, config)

    def __len__(self):
        return len(self.tokens)

    def __eq__(self, other):
        return (isinstance(other, RemiVocabulary) and self.tokens == other.tokens
                and self.config == other.config)

    def __contains__(self, token):
        return token in self._ids

    def encode(self, tokens: Sequence[str]) -> list:
        try:
            return [self._ids[t] for t in tokens]
        except KeyError as e:
            raise ValueError(f"token {e.args[0]!r} is not in the REMI vocabulary") from None

    def decode(self, ids: Sequence[int]) -> list:
        return [self.tokens[int(i)] for i in ids]

    def save(self, path: str) -> None:
        with open(path, "w") as f:
            json.dump({"format": VOCAB_FORMAT, "config": self.config, "tokens": self.tokens}, f,
                      indent=1)

    @classmethod
    def load(cls, path: str) -> "RemiVocabulary":
        with open(path) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not a REMI vocabulary JSON file ({e})") from None
        if not isinstance(data, dict) or data.get("format") != VOCAB_FORMAT:
            raise ValueError(f"{path}: not a REMI vocabulary (format must be {VOCAB_FORMAT!r})")
        return cls(data["tokens"], data.get("config"))


class RemiConverter(token_utils.TokenLMConverter):
    """NoteSequence <-> one-hot REMI tokens.

    Args:
      steps_per_quarter: grid steps per quarter note (4: sixteenths).
      positions_per_bar: steps per bar (16: a 4/4 bar).
      num_velocity_bins / max_duration_steps / min_pitch / max_pitch: token ranges.
      use_chords: include Chord tokens (template matcher), every `chord_steps` steps.
      max_tokens: window length in tokens (whole bars), or None for one tensor.
      truncate: keep only the first window.
      add_end_token: append EOS after the last bar of the piece.
      apply_sustain / stretch_factors / transpose_amounts: as PerformanceConverter.
      max_tensors_per_notesequence: cap on windows per sequence.
      presplit_on_time_changes: split on tempo / time-signature changes first.
    """

    def __init__(self, steps_per_quarter: int = 4, positions_per_bar: int = 16,
                 num_velocity_bins: int = 32, max_duration_steps: int = 64,
                 min_pitch: int = constants.MIN_MIDI_PITCH,
                 max_pitch: int = constants.MAX_MIDI_PITCH, use_chords: bool = True,
                 chord_steps: int = 8, max_tokens: Optional[int] = None, truncate: bool = False,
                 add_end_token: bool = False, apply_sustain: bool = True,
                 stretch_factors: Sequence[float] = token_utils.DEFAULT_STRETCH_FACTORS,
                 transpose_amounts: Sequence[int] = token_utils.DEFAULT_TRANSPOSE_AMOUNTS,
                 max_tensors_per_notesequence: Optional[int] = None,
                 presplit_on_time_changes: bool = True):
        token_utils.check_pitch_range(min_pitch, max_pitch)
        if max_tokens is not None and max_tokens < 8:
            raise ValueError(f"max_tokens must be at least 8 (one bar with a note), got {max_tokens}")
        self._vocab = RemiVocabulary.build(positions_per_bar, num_velocity_bins,
                                           max_duration_steps, min_pitch, max_pitch, use_chords,
                                           add_end_token)
        super().__init__(depth=len(self._vocab),
                         end_token=self._vocab.encode(["EOS"])[0] if add_end_token else None,
                         min_pitch=min_pitch, max_pitch=max_pitch, apply_sustain=apply_sustain,
                         stretch_factors=stretch_factors, transpose_amounts=transpose_amounts,
                         max_tensors_per_notesequence=max_tensors_per_notesequence,
                         presplit_on_time_changes=presplit_on_time_changes)
        self._steps_per_quarter = steps_per_quarter
        self._positions_per_bar = positions_per_bar
        self._num_velocity_bins = num_velocity_bins
        self._max_duration_steps = max_duration_steps
        self._use_chords = use_chords
        self._chord_steps = chord_steps
        self._max_tokens = max_tokens
        self._truncate = truncate
        self._ids = remi_codec.RemiIds(self._vocab.tokens, TEMPO_CLASSES)
        self._position_0 = self._vocab.encode(["Position_0"])[0]

    vocabulary = property(lambda self: self._vocab)
    steps_per_quarter = property(lambda self: self._steps_per_quarter)

    # ---- NoteSequence -> tokens ---------------------------------------------------------------
    def _qpm(self, timing: music_pb2.NoteSequence) -> float:
        tempos = {t.qpm for t in timing.tempos}
        if len(tempos) > 1:
            raise ValueError(f"RemiConverter needs one tempo per piece, got {sorted(tempos)} qpm: "
                             "keep presplit_on_time_changes=True")
        return tempos.pop() if tempos else constants.DEFAULT_QUARTERS_PER_MINUTE

    def bar_ids(self, notes: NoteArrays, timing: music_pb2.NoteSequence):
        """(qpm, per-bar id arrays) of prepared notes under `timing`'s single tempo.

        Each bar starts with `Bar`; tempo tokens are added by the windows. Time signatures are
        ignored (every bar is `positions_per_bar` steps), so they cannot fail quantization."""
        qpm = self._qpm(timing)
        if not len(notes):
            return qpm, [], np.zeros(0, np.int64)
        qs, qe = remi_codec.quantize_to_grid(notes, self._steps_per_quarter, qpm)
        stream, bar_index, bar_chord = remi_codec.piece_ids(
            self._ids, qs, qe, notes.pitch, notes.velocity, self._positions_per_bar,
            self._num_velocity_bins, self._max_duration_steps,
            self._chord_steps if self._use_chords else None)
        return qpm, np.split(stream, bar_index[1:]), bar_chord

    def _window_start(self, bar: np.ndarray, chord_at_start: int, tempo: np.ndarray) -> np.ndarray:
        """A bar opening a window: tempo after `Bar`, and the sounding chord restated."""
        body = bar[1:]
        if chord_at_start >= 0 and not (len(body) > 1 and body[0] == self._position_0
                                        and self._ids.kind[body[1]] == remi_codec.CHORD):
            chord = self._ids.id_of(remi_codec.CHORD, [chord_at_start])
            head = body[:1] if len(body) and body[0] == self._position_0 else [self._position_0]
            rest = body[1:] if len(body) and body[0] == self._position_0 else body
            body = np.concatenate([head, chord, rest])
        return np.concatenate([bar[:1], tempo, body]).astype(np.int64)

    def _cut(self, tokens: np.ndarray) -> np.ndarray:
        """First max_tokens tokens, ending after the last complete note."""
        tokens = tokens[:self._max_tokens]
        kinds = self._ids.kind[tokens]
        keep = len(tokens)
        while keep and kinds[keep - 1] in (remi_codec.VELOCITY, remi_codec.PITCH):
            keep -= 1
        return tokens[:keep]

    def notes_id_windows(self, notes: NoteArrays, timing: music_pb2.NoteSequence) -> list:
        """Id windows of prepared notes (whole bars; see the module docstring)."""
        qpm, bars, bar_chord = self.bar_ids(notes, timing)
        if not bars:
            return []
        if self._end_token is not None:
            bars[-1] = np.append(bars[-1], self._end_token)
        tempo = np.asarray(self._vocab.encode(tempo_tokens(qpm)), np.int64)
        limit = self._max_tokens
        windows, parts, length = [], [], 0
        for i, bar in enumerate(bars):
            if parts and limit is not None and length + len(bar) > limit:
                windows.append(np.concatenate(parts))
                if self._truncate:
                    return [w.tolist() for w in windows]
                parts, length = [], 0
            piece = self._window_start(bar, bar_chord[i], tempo) if not parts else bar
            parts.append(piece)
            length += len(piece)
            if limit is not None and length > limit:
                parts = [self._cut(np.concatenate(parts))]
                length = len(parts[0])
        windows.append(np.concatenate(parts))
        return [w.tolist() for w in (windows[:1] if self._truncate else windows)]

    def windows(self, note_sequence: music_pb2.NoteSequence) -> list:
        """Token windows (lists of strings) of one prepared single-tempo sequence."""
        return [self._vocab.decode(ids) for ids in self.id_windows(note_sequence)]

    def vocab_params(self) -> dict:
        return dict(super().vocab_params(), encoding="remi",
                    steps_per_quarter=self._steps_per_quarter, remi=self._vocab.config,
                    tokens=self._vocab.tokens)

    # ---- tokens -> NoteSequence ---------------------------------------------------------------
    def decode_tokens(self, tokens: Sequence[str],
                      report: Optional[dict] = None) -> music_pb2.NoteSequence:
        """NoteSequence of a token list (ValueError for a token not in the vocabulary)."""
        return self.decode_ids(self._vocab.encode(tokens), report)

    def decode_ids(self, ids: Sequence[int], report: Optional[dict] = None) -> music_pb2.NoteSequence:
        """NoteSequence of token ids, leniently: a token out of grammar order is skipped (or,
        for a Position before any Bar, read as bar 0) and counted in `report` ({reason: count})
        when one is given; never raises on an id of the vocabulary. Vectorised
        (`remi_codec.decode_ids`)."""
        return remi_codec.decode_ids(self._ids, ids, self._positions_per_bar,
                                     self._steps_per_quarter, self._num_velocity_bins, report)
