"""Every generated fixture class (tests/midi_fixtures.py) read by musicgen.midi_io equals note_seq.

For each class, a few seeds at small sizes:

* ``parse`` classes: ``midi_bytes_to_note_sequence`` returns the NoteSequence note_seq returns,
  every field and the note order included (``note_sequence_diff(ours, ref) is None``);
* ``error`` classes: both readers fail, ours with ``MidiConversionError`` naming the file;
* ``limit`` classes: ours raises ``MidiConversionError`` naming the file (its documented limits:
  ticks < 10,000,000); note_seq is run only where that is cheap (it raised pretty_midi's MAX_TICK
  to 1e10, so it parses a file reaching tick 1e7 and tries a 19 GB array at 2**31);

and in every case no file takes a note_seq fallback inside musicgen.midi_io
(``midi_io.fallback_count()`` does not grow).
"""
import warnings

import pytest
from note_seq import midi_io as ns_midi_io

import midi_fixtures as fx
from musicgen import midi_io

SEEDS = (0, 1, 2)
# small sizes keep the module under 15 s; bench/midi_stress.py writes the full-size files
SIZES = {"million_notes_two_channels": 20_000}
# limit classes whose note_seq parse is cheap enough to run (and must succeed)
NOTE_SEQ_PARSES_LIMIT = {"max_tick_over"}

CASES = [(name, seed) for name in fx.CLASSES for seed in SEEDS]


def _ref(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ns_midi_io.midi_to_note_sequence(data)
        except ns_midi_io.MIDIConversionError as exc:
            return exc


@pytest.mark.parametrize("name,seed", CASES, ids=[f"{n}-{s}" for n, s in CASES])
def test_fixture_equals_note_seq(name, seed):
    data = fx.make(name, seed, SIZES.get(name))
    expectation = fx.CLASSES[name][1]
    filename = f"fixture-{name}-{seed}.mid"
    before = midi_io.fallback_count()
    try:
        ours = midi_io.midi_bytes_to_note_sequence(data, filename)
    except midi_io.MidiConversionError as exc:
        ours = exc
    assert midi_io.fallback_count() == before, "took a note_seq fallback"

    if expectation == "limit":
        assert isinstance(ours, midi_io.MidiConversionError), "parsed a file beyond the limits"
        assert filename in str(ours)
        if name in NOTE_SEQ_PARSES_LIMIT:
            assert not isinstance(_ref(data), Exception)
        return
    ref = _ref(data)
    if expectation == "error":
        assert isinstance(ref, Exception), "fixture meant to fail in note_seq parsed"
        assert isinstance(ours, midi_io.MidiConversionError), "only note_seq failed"
        assert filename in str(ours)
        return
    assert not isinstance(ref, Exception), f"fixture meant to parse failed in note_seq: {ref}"
    assert not isinstance(ours, Exception), f"only ours failed: {ours}"
    assert midi_io.note_sequence_diff(ours, ref) is None, midi_io.note_sequence_diff(ours, ref)


def test_fixtures_are_deterministic():
    for name in fx.CLASSES:
        assert fx.make(name, 7, SIZES.get(name)) == fx.make(name, 7, SIZES.get(name)), name
