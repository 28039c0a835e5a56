"""Short fuzz of the MIDI reader (the long form is bench/midi_fuzz.py, >= 10,000 cases).

300 mutated inputs chosen by hypothesis (derandomized: the same cases every run) from the Groove
test files in tests/data and the generated fixtures (tests/midi_fixtures.py), with the mutators of
tests/midi_mutators.py (shared with bench/midi_fuzz.py). Each input must give a NoteSequence or a
``MidiConversionError`` whose message names the file - no other exception - within 5 s.
A failing case is reproduced by ``midi_mutators.mutate(SEED_FILES[k], mutator, seed)``.
"""
import glob
import os
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import midi_fixtures as fx
import midi_mutators as mm
from musicgen import midi_io

HERE = os.path.dirname(os.path.abspath(__file__))
GROOVE = sorted(glob.glob(os.path.join(HERE, "data", "groove", "**", "*.mid"), recursive=True))
SEED_FILES = [open(p, "rb").read() for p in GROOVE] + [
    fx.make(name, 0, 2000 if name == "million_notes_two_channels" else None)
    for name in fx.CLASSES]
CASE_LIMIT_S = 5.0

# the first call may compile the reader (numba): not a fuzz case's time
try:
    midi_io.midi_bytes_to_note_sequence(SEED_FILES[0], "warmup.mid")
except midi_io.MidiConversionError:
    pass


@settings(max_examples=300, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(k=st.integers(0, len(SEED_FILES) - 1), mutator=st.sampled_from(mm.NAMES),
       seed=st.integers(0, 2 ** 32 - 1))
def test_mutated_midi_parses_or_raises_midi_conversion_error(k, mutator, seed):
    data = mm.mutate(SEED_FILES[k], mutator, seed)
    name = f"fuzz-{k}-{mutator}-{seed}.mid"
    t0 = time.perf_counter()
    try:
        ns = midi_io.midi_bytes_to_note_sequence(data, name)
        assert ns.ticks_per_quarter > 0
    except midi_io.MidiConversionError as exc:
        assert name in str(exc), f"error does not name the file: {exc}"
    seconds = time.perf_counter() - t0
    assert seconds < CASE_LIMIT_S, f"{name}: {seconds:.1f} s"
