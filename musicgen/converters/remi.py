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

Timing comes from `sequences_lib.quantize_note_sequence(ns, steps_per_quarter=4)`; the
base class first splits the sequence on tempo / time-signature changes. Sustain is
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
from note_seq import constants, performance_lib, sequences_lib
from note_seq.protobuf import music_pb2

from musicgen.converters import remi_chords, token_utils

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

    vocabulary = property(lambda self: self._vocab)
    steps_per_quarter = property(lambda self: self._steps_per_quarter)

    # ---- NoteSequence -> tokens ---------------------------------------------------------------
    def bar_tokens(self, note_sequence: music_pb2.NoteSequence):
        """(qpm, per-bar token lists) of a prepared sequence with at most one tempo.

        Each bar's list starts with `Bar`; tempo tokens are added by `windows`. Time
        signatures are ignored (every bar is 16 sixteenths), so they cannot fail quantization.
        """
        tempos = {t.qpm for t in note_sequence.tempos}
        if len(tempos) > 1:
            raise ValueError(f"RemiConverter needs one tempo per piece, got {sorted(tempos)} qpm: "
                             "keep presplit_on_time_changes=True")
        qpm = tempos.pop() if tempos else constants.DEFAULT_QUARTERS_PER_MINUTE
        timing = music_pb2.NoteSequence(ticks_per_quarter=note_sequence.ticks_per_quarter)
        timing.tempos.add(qpm=qpm)
        timing.notes.extend(note_sequence.notes)
        quantized = sequences_lib.quantize_note_sequence(timing, self._steps_per_quarter)
        notes = sorted((n.quantized_start_step, n.pitch, n.quantized_end_step, n.velocity)
                       for n in quantized.notes)
        if not notes:
            return qpm, []
        ppb = self._positions_per_bar
        num_bars = notes[-1][0] // ppb + 1
        onsets = {}
        for start, pitch, end, velocity in notes:
            duration = int(np.clip(end - start, 1, self._max_duration_steps))
            vbin = performance_lib.velocity_to_bin(velocity, self._num_velocity_bins)
            onsets.setdefault(start, []).extend(
                [f"Velocity_{vbin}", f"Pitch_{pitch}", f"Duration_{duration}"])
        chords = self._chords(notes, num_bars * ppb)
        bars = []
        for bar in range(num_bars):
            tokens = ["Bar"]
            for pos in range(ppb):
                step = bar * ppb + pos
                group = ([f"Chord_{chords[step]}"] if step in chords else []) + onsets.get(step, [])
                if group:
                    tokens += [f"Position_{pos}"] + group
            bars.append(tokens)
        return qpm, bars

    def _chords(self, notes, total_steps: int) -> dict:
        """{step: chord name} at every chord-segment start where the chord changes."""
        if not self._use_chords:
            return {}
        spans = [(pitch, start, end) for start, pitch, end, _ in notes]
        num_segments = -(-total_steps // self._chord_steps)
        profiles = remi_chords.segment_profiles(spans, 0, self._chord_steps, num_segments)
        out, previous = {}, object()
        for k, profile in enumerate(profiles):
            name = remi_chords.chord_name(remi_chords.match_chord(profile))
            if name != previous:
                out[k * self._chord_steps] = name
            previous = name
        return out

    def _window_start(self, bar: list, chord_at_start: Optional[str], qpm: float) -> list:
        """A bar opening a window: tempo after `Bar`, and the sounding chord restated."""
        body = bar[1:]
        if chord_at_start and not (body[:1] == ["Position_0"] and body[1].startswith("Chord_")):
            chord = [f"Chord_{chord_at_start}"]
            body = body[:1] + chord + body[1:] if body[:1] == ["Position_0"] else ["Position_0"] + chord + body
        return ["Bar"] + tempo_tokens(qpm) + body

    def windows(self, note_sequence: music_pb2.NoteSequence) -> list:
        """Token windows (lists of strings) of one prepared single-tempo sequence."""
        qpm, bars = self.bar_tokens(note_sequence)
        if not bars:
            return []
        current = [None] * len(bars)  # chord sounding at each bar start
        chord = None
        for i, bar in enumerate(bars):
            current[i] = chord
            for token in bar:
                if token.startswith("Chord_"):
                    chord = token[len("Chord_"):]
        if self._end_token is not None:
            bars[-1] = bars[-1] + ["EOS"]
        windows, window = [], []
        for i, bar in enumerate(bars):
            if window and self._max_tokens is not None and len(window) + len(bar) > self._max_tokens:
                windows.append(window)
                if self._truncate:
                    return windows
                window = []
            window += self._window_start(bar, current[i], qpm) if not window else bar
            if self._max_tokens is not None and len(window) > self._max_tokens:
                window = self._cut(window)
        windows.append(window)
        return windows[:1] if self._truncate else windows

    def _cut(self, tokens: list) -> list:
        """First max_tokens tokens, ending after the last complete note."""
        tokens = tokens[:self._max_tokens]
        while tokens and tokens[-1].split("_")[0] in NOTE_TOKENS[:2]:
            tokens.pop()
        return tokens

    def id_windows(self, note_sequence: music_pb2.NoteSequence) -> list:
        return [self._vocab.encode(tokens) for tokens in self.windows(note_sequence)]

    def vocab_params(self) -> dict:
        return dict(super().vocab_params(), encoding="remi",
                    steps_per_quarter=self._steps_per_quarter, remi=self._vocab.config,
                    tokens=self._vocab.tokens)

    # ---- tokens -> NoteSequence ---------------------------------------------------------------
    def decode_tokens(self, tokens: Sequence[str],
                      report: Optional[dict] = None) -> music_pb2.NoteSequence:
        """NoteSequence of a token list, leniently: a token out of grammar order is skipped (or,
        for a Position before any Bar, read as bar 0) and counted in `report` ({reason: count})
        when one is given; never raises on a token of the vocabulary."""
        state = dict(bar=-1, pos=0, tempo_class=None, velocity=100, pitch=None)
        report = {} if report is None else report

        def count(reason):
            report[reason] = report.get(reason, 0) + 1
        tempos, notes, chords = [(0, float(constants.DEFAULT_QUARTERS_PER_MINUTE))], [], []
        classes = dict(TEMPO_CLASSES)
        for token in tokens:
            kind, _, value = token.partition("_")
            step = max(state["bar"], 0) * self._positions_per_bar + state["pos"]
            if kind == "EOS":
                break
            if state["pitch"] is not None and kind not in ("Duration", "Pitch"):
                count("pitch without a duration")
                state["pitch"] = None
            if kind == "Bar":
                state.update(bar=state["bar"] + 1, pos=0, pitch=None)
            elif kind == "Position":
                if state["bar"] < 0:
                    count("position before any bar")  # read as bar 0 (as is the first Bar)
                state.update(pos=int(value), pitch=None)
            elif kind == "TempoClass":
                state["tempo_class"] = value
            elif kind == "TempoValue":
                if state["tempo_class"] is None:
                    count("tempo value without a tempo class")
                    continue
                qpm = float(classes[state["tempo_class"]] + int(value))
                tempos = [t for t in tempos if t[0] < step] + [(step, qpm)]
            elif kind == "Chord":
                chords.append((step, remi_chords.chord_symbol(remi_chords.parse_chord_name(value))))
            elif kind == "Velocity":
                state["velocity"] = performance_lib.velocity_bin_to_velocity(
                    int(value), self._num_velocity_bins)
            elif kind == "Pitch":
                if state["pitch"] is not None:
                    count("pitch without a duration")
                state["pitch"] = int(value)
            elif kind == "Duration":
                if state["pitch"] is None:
                    count("duration with no note")
                    continue
                notes.append((state["pitch"], state["velocity"], step, step + int(value)))
                state["pitch"] = None
        if state["pitch"] is not None:
            count("pitch without a duration")
        return self._sequence(tempos, notes, chords)

    def _sequence(self, tempos, notes, chords) -> music_pb2.NoteSequence:
        """Build a NoteSequence from step-timed tempos, notes and chords."""
        steps = np.array([t[0] for t in tempos])
        secs_per_step = np.array([60.0 / (t[1] * self._steps_per_quarter) for t in tempos])
        starts = np.concatenate([[0.0], np.cumsum(np.diff(steps) * secs_per_step[:-1])])

        def seconds(step):
            i = int(np.searchsorted(steps, step, side="right")) - 1
            return float(starts[i] + (step - steps[i]) * secs_per_step[i])

        ns = music_pb2.NoteSequence(ticks_per_quarter=constants.STANDARD_PPQ)
        ns.time_signatures.add(time=0.0, numerator=4, denominator=4)
        for step, qpm in tempos:
            ns.tempos.add(time=seconds(step), qpm=qpm)
        for pitch, velocity, start, end in notes:
            ns.notes.add(pitch=pitch, velocity=velocity, start_time=seconds(start),
                         end_time=seconds(end))
        for step, text in chords:
            ns.text_annotations.add(time=seconds(step), text=text,
                                    annotation_type=CHORD_SYMBOL)
        ns.total_time = max([n.end_time for n in ns.notes], default=0.0)
        return ns

    def decode_ids(self, ids: Sequence[int], report: Optional[dict] = None) -> music_pb2.NoteSequence:
        return self.decode_tokens(self._vocab.decode(ids), report)
