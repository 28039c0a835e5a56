"""Helpers shared by the event/token language-model converters (performance, REMI).

* `TokenLMConverter`: their common base: sequence preparation + train-mode augmentation,
  one-hot windows with inputs == outputs, decoding of samples through `decode_ids`.
* `prepare_sequence`: sustain pedal -> longer notes, drop drums and out-of-range pitches
  (as Magenta's score2perf datagen does before encoding); `prepare_arrays` the same as note
  arrays (`note_arrays.NoteArrays`), with no NoteSequence built.
* `augment_sequence`: Music Transformer style time-stretch + transposition, with the
  transposition restricted to amounts that keep every note inside the pitch range.
* `samples_to_ids`: model samples (one-hot / probabilities / int ids) -> int id lists.
* `cut_windows`: split an id list into fixed-length windows (or truncate).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from note_seq import sequences_lib
from note_seq.protobuf import music_pb2

from musicgen.converters.base import (BaseNoteSequenceConverter, ConverterTensors,
                                     maybe_sample_items, np_onehot)
from musicgen.converters.event_list import argmax_labels, cut_at_end_token
from musicgen.converters.note_arrays import NoteArrays
from musicgen.converters.sustain import apply_sustain as apply_sustain_pedal
from musicgen.converters.sustain import sustain_arrays

# Reserved ids of the token-LM encoding (`TokenLMConverter.lm_windows`): every event class of a
# converter is shifted up by NUM_RESERVED, so PAD (0) never collides with a real event.
PAD_ID, EOS_ID, BOS_ID = 0, 1, 2
NUM_RESERVED = 3
RESERVED = {"PAD": PAD_ID, "EOS": EOS_ID, "BOS": BOS_ID}

# Music Transformer (magenta/models/score2perf) augmentation grid.
DEFAULT_STRETCH_FACTORS = (0.95, 0.975, 1.0, 1.025, 1.05)
DEFAULT_TRANSPOSE_AMOUNTS = tuple(range(-3, 4))


def check_pitch_range(min_pitch: int, max_pitch: int) -> None:
    if not 0 <= min_pitch <= max_pitch <= 127:
        raise ValueError(f"need 0 <= min_pitch <= max_pitch <= 127, got {min_pitch}, {max_pitch}")


def prepare_sequence(note_sequence: music_pb2.NoteSequence, min_pitch: int, max_pitch: int,
                     apply_sustain: bool = True) -> music_pb2.NoteSequence:
    """Copy of `note_sequence` with sustain applied, control changes, drums and notes
    outside [min_pitch, max_pitch] removed."""
    if apply_sustain:
        ns = apply_sustain_pedal(note_sequence)
    else:
        ns = music_pb2.NoteSequence()
        ns.CopyFrom(note_sequence)
    del ns.control_changes[:]
    keep = [n for n in ns.notes if not n.is_drum and min_pitch <= n.pitch <= max_pitch]
    if len(keep) != len(ns.notes):
        del ns.notes[:]
        ns.notes.extend(keep)
    return ns


def prepare_arrays(note_sequence: music_pb2.NoteSequence, min_pitch: int, max_pitch: int,
                   apply_sustain: bool = True) -> NoteArrays:
    """The notes of `prepare_sequence(note_sequence, ...)`, in its order, as arrays."""
    if apply_sustain:
        notes, _ = sustain_arrays(note_sequence)
    else:
        notes = NoteArrays.from_sequence(note_sequence)
    keep = ~notes.is_drum & (notes.pitch >= min_pitch) & (notes.pitch <= max_pitch)
    return notes if keep.all() else notes.take(keep)


def allowed_transpositions(note_sequence: music_pb2.NoteSequence, amounts: Sequence[int],
                           min_pitch: int, max_pitch: int) -> list:
    """The amounts in `amounts` that keep every note inside [min_pitch, max_pitch]."""
    if not note_sequence.notes:
        return list(amounts)
    lo = min(n.pitch for n in note_sequence.notes)
    hi = max(n.pitch for n in note_sequence.notes)
    return [a for a in amounts if lo + a >= min_pitch and hi + a <= max_pitch]


def augment_sequence(note_sequence: music_pb2.NoteSequence, rng: np.random.Generator,
                     stretch_factors: Sequence[float], transpose_amounts: Sequence[int],
                     min_pitch: int, max_pitch: int) -> music_pb2.NoteSequence:
    """Randomly time-stretch and transpose a copy of `note_sequence`.

    The stretch factor is drawn uniformly from `stretch_factors`, the transposition
    uniformly from the members of `transpose_amounts` that keep all notes in range
    (Magenta drops an augmented copy whose transposition would delete notes; drawing
    only valid amounts keeps one example per input instead).
    """
    ns = music_pb2.NoteSequence()
    ns.CopyFrom(note_sequence)
    if stretch_factors:
        factor = float(rng.choice(np.asarray(stretch_factors, dtype=np.float64)))
        sequences_lib.stretch_note_sequence(ns, factor, in_place=True)
    amounts = allowed_transpositions(ns, transpose_amounts or (0,), min_pitch, max_pitch)
    amount = int(rng.choice(amounts)) if amounts else 0
    if amount:
        sequences_lib.transpose_note_sequence(
            ns, amount, min_allowed_pitch=min_pitch, max_allowed_pitch=max_pitch,
            transpose_chords=False, in_place=True)
    return ns


def samples_to_ids(sample, end_token: Optional[int] = None) -> list:
    """Token ids of one model sample.

    `sample` is a (T, depth) one-hot / probability array (argmax per step; all-zero rows
    are padding and end the sample) or a 1-D array of int ids. Decoding stops before
    `end_token` when given.
    """
    arr = np.asarray(sample)
    if arr.ndim == 1:
        ids = arr
    elif arr.ndim == 2:
        nonzero = np.any(arr != 0, axis=-1)
        stop = int(np.argmin(nonzero)) if not nonzero.all() else len(arr)
        ids = argmax_labels(arr[:stop])
    else:
        raise ValueError(f"sample must be 1-D ids or a 2-D (T, depth) array, got shape {arr.shape}")
    return cut_at_end_token(np.asarray(ids, dtype=np.int64), end_token).tolist()


def cut_windows(ids: Sequence[int], max_len: Optional[int], hop: Optional[int] = None,
                min_len: int = 1, truncate: bool = False) -> list:
    """Split `ids` into windows of at most `max_len` ids.

    max_len None: one window with everything. truncate: only the first window.
    Otherwise windows start every `hop` ids (default max_len: no overlap); windows
    shorter than `min_len` are dropped (only the last one can be short).
    """
    ids = list(ids)
    if not ids:
        return []
    if max_len is None or len(ids) <= max_len:
        return [ids] if len(ids) >= min_len else []
    if truncate:
        return [ids[:max_len]]
    hop = hop or max_len
    windows = []
    for start in range(0, len(ids), hop):
        window = ids[start:start + max_len]
        if len(window) >= min_len:
            windows.append(window)
        if start + max_len >= len(ids):
            break
    return windows


class TokenLMConverter(BaseNoteSequenceConverter):
    """Base of the language-model token converters: one-hot tokens, inputs == outputs.

    Subclasses implement `id_windows(prepared_ns) -> list of id lists` and
    `decode_ids(ids) -> NoteSequence`. `to_tensors` first runs `prepare` (sustain, drop
    drums and out-of-range pitches, train-mode stretch/transpose with the seeded rng).
    """

    def __init__(self, depth: int, end_token: Optional[int], min_pitch: int, max_pitch: int,
                 apply_sustain: bool, stretch_factors: Sequence[float],
                 transpose_amounts: Sequence[int], max_tensors_per_notesequence: Optional[int],
                 presplit_on_time_changes: bool):
        super().__init__(input_depth=depth, input_dtype=np.bool_, output_depth=depth,
                         output_dtype=np.bool_, end_token=end_token,
                         max_tensors_per_notesequence=max_tensors_per_notesequence,
                         presplit_on_time_changes=presplit_on_time_changes)
        self._min_pitch, self._max_pitch = min_pitch, max_pitch
        self._apply_sustain = apply_sustain
        self._stretch_factors = tuple(stretch_factors or ())
        self._transpose_amounts = tuple(transpose_amounts or (0,))

    def prepare(self, note_sequence: music_pb2.NoteSequence) -> music_pb2.NoteSequence:
        """Sustain, range filter and (train mode only) augmentation, as applied by to_tensors."""
        ns = prepare_sequence(note_sequence, self._min_pitch, self._max_pitch, self._apply_sustain)
        if self.is_training:
            ns = augment_sequence(ns, self._rng, self._stretch_factors, self._transpose_amounts,
                                  self._min_pitch, self._max_pitch)
        return ns

    def prepared_notes(self, note_sequence: music_pb2.NoteSequence):
        """(notes of `prepare(note_sequence)` as NoteArrays, the sequence to read tempos from).

        Outside train mode no NoteSequence is built: the arrays come from `prepare_arrays`
        and the tempos from `note_sequence` itself (preparing does not change them)."""
        if self.is_training:
            prepared = self.prepare(note_sequence)
            return NoteArrays.from_sequence(prepared), prepared
        return (prepare_arrays(note_sequence, self._min_pitch, self._max_pitch,
                               self._apply_sustain), note_sequence)

    def id_windows(self, note_sequence: music_pb2.NoteSequence) -> list:
        """Id windows of a prepared sequence."""
        return self.notes_id_windows(NoteArrays.from_sequence(note_sequence), note_sequence)

    def notes_id_windows(self, notes: NoteArrays, timing: music_pb2.NoteSequence) -> list:
        """Id windows of prepared notes (`timing`: the sequence whose tempos apply)."""
        raise NotImplementedError

    def notes_all_events(self, notes: NoteArrays, timing: music_pb2.NoteSequence) -> list:
        """Every event id of prepared notes (no windows, no END); subclasses may override."""
        return [e for w in self.notes_id_windows(notes, timing) for e in w
                if self._end_token is None or e != self._end_token]

    def decode_ids(self, ids: Sequence[int], report: Optional[dict] = None) -> music_pb2.NoteSequence:
        """NoteSequence of event ids; malformed streams decode leniently, each repair counted in
        `report` ({reason: count}) when given."""
        raise NotImplementedError

    def to_tensors(self, note_sequence: music_pb2.NoteSequence) -> ConverterTensors:
        if self._presplit_on_time_changes:
            return super().to_tensors(self.prepare(note_sequence))
        result = self._windows_to_tensors(self.notes_id_windows(*self.prepared_notes(note_sequence)))
        keep = maybe_sample_items(len(result), self._max_tensors_per_notesequence,
                                  self.is_training, self._rng)
        return result if len(keep) == len(result) else result.select(keep)

    def _to_tensors_fn(self, note_sequence: music_pb2.NoteSequence) -> ConverterTensors:
        return self._windows_to_tensors(self.id_windows(note_sequence))

    def _windows_to_tensors(self, windows) -> ConverterTensors:
        result = ConverterTensors()
        for ids in windows:
            onehot = np_onehot(ids, self.output_depth, self.output_dtype)
            result.inputs.append(onehot)
            result.outputs.append(onehot)
            result.controls.append(self.empty_controls(len(ids)))
            result.lengths.append(len(ids))
        return result

    def from_tensors(self, samples, controls=None) -> list:
        """Decode (T, depth) one-hot/probability samples (or 1-D id arrays) to NoteSequences."""
        del controls
        return [self.decode_ids(samples_to_ids(s, self._end_token)) for s in samples]

    # ---- token-LM encoding: int ids with reserved PAD / EOS / BOS ------------------------------
    @property
    def num_event_classes(self) -> int:
        """Event classes of the encoding (one-hot depth without the legacy END class)."""
        return self.output_depth - (1 if self._end_token is not None else 0)

    @property
    def vocab_size(self) -> int:
        """Ids of the token-LM encoding: NUM_RESERVED + event classes."""
        return NUM_RESERVED + self.num_event_classes

    def vocab_params(self) -> dict:
        """What fixes the meaning of every id (subclasses add their encoding parameters)."""
        return {"min_pitch": self._min_pitch, "max_pitch": self._max_pitch}

    def lm_vocabulary(self) -> dict:
        """The token vocabulary as json-able data: written into spec.json and model exports and
        compared on load (`check_lm_vocabulary`)."""
        return {"converter": type(self).__name__, "size": self.vocab_size,
                "reserved": dict(RESERVED), "event_offset": NUM_RESERVED,
                "params": self.vocab_params()}

    def check_lm_vocabulary(self, stored: dict, where: str) -> None:
        """ValueError naming `where` when a stored vocabulary is not this converter's."""
        mine = self.lm_vocabulary()
        if json_normalise(stored) != json_normalise(mine):
            diff = {k: (stored.get(k), mine.get(k)) for k in set(stored) | set(mine)
                    if json_normalise(stored.get(k)) != json_normalise(mine.get(k))}
            raise ValueError(f"{where}: token vocabulary differs from the config's converter "
                             f"(stored vs config): {diff}")

    def lm_windows(self, note_sequence: music_pb2.NoteSequence) -> list:
        """Token-LM windows of a NoteSequence: int32 arrays [BOS, e_1+3, ..., e_n+3 (, EOS)].

        The same preparation as `to_tensors` (sustain, range filter, train-mode augmentation with
        the seeded generator), the same windows as `id_windows`; EOS closes the window that holds
        the end of the piece; at most `max_tensors_per_notesequence` windows (random in train).
        """
        windows = self.notes_id_windows(*self.prepared_notes(note_sequence))
        out = []
        for i, ids in enumerate(windows):
            tokens = [BOS_ID] + [int(e) + NUM_RESERVED for e in ids
                                 if self._end_token is None or e != self._end_token]
            if i == len(windows) - 1:
                tokens.append(EOS_ID)
            out.append(np.asarray(tokens, np.int32))
        keep = maybe_sample_items(len(out), self._max_tensors_per_notesequence, self.is_training,
                                  self._rng)
        return [out[i] for i in keep]

    def lm_events(self, tokens: Sequence[int]) -> list:
        """Event ids of a token-LM id list: stops at EOS; BOS / PAD / unknown ids skipped."""
        events = []
        for t in np.asarray(tokens, np.int64).ravel().tolist():
            if t == EOS_ID:
                break
            e = t - NUM_RESERVED
            if 0 <= e < self.num_event_classes:
                events.append(e)
        return events

    def lm_decode(self, tokens: Sequence[int], report: Optional[dict] = None) -> music_pb2.NoteSequence:
        """NoteSequence of a token-LM id list (`lm_events` decoded leniently; repairs counted in
        `report` when given)."""
        ns = self.decode_ids(self.lm_events(tokens), report)
        _exact_midi_resolution(ns)
        return ns

    def lm_encode_primer(self, note_sequence: music_pb2.NoteSequence) -> np.ndarray:
        """[BOS] + every event of a (prepared, never augmented) NoteSequence, as a primer."""
        notes = prepare_arrays(note_sequence, self._min_pitch, self._max_pitch, self._apply_sustain)
        events = self.notes_all_events(notes, note_sequence)
        return np.asarray([BOS_ID] + [e + NUM_RESERVED for e in events], np.int32)

    def encode_all_events(self, note_sequence: music_pb2.NoteSequence) -> list:
        """Every event id of a prepared sequence (no windows, no END)."""
        return self.notes_all_events(NoteArrays.from_sequence(note_sequence), note_sequence)


def _exact_midi_resolution(ns: music_pb2.NoteSequence) -> None:
    """Write decoded token sequences at 1 ms per MIDI tick (120 qpm, 500 ticks per quarter), so
    every time on the converter's 10 ms grid survives a MIDI file exactly (note_seq's default 220
    ticks per quarter rounds some of them across a grid step)."""
    if not ns.tempos:
        ns.tempos.add(qpm=120.0)
    if len(ns.tempos) == 1 and ns.tempos[0].qpm == 120.0:
        ns.ticks_per_quarter = 500


def json_normalise(value):
    """Lists for tuples, sorted dict keys: stored json compares equal to live values."""
    import json
    return json.loads(json.dumps(value, sort_keys=True, default=list))
