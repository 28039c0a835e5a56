"""Every data converter's tensors are invariant to the order of a NoteSequence's notes.

This is what makes "equal as multisets of notes per instrument, every other field equal" a
sufficient equality for the MIDI reader (musicgen.midi_io): two readers that list the same notes
in another order (same-tick note-offs written in any order) feed every model the same tensors.
Checked for one config per converter class in CONFIG_MAP, on a real Groove performance and on
generated sequences full of ties (chords, same-tick starts and ends, same pitches on several
instruments), each shuffled with several seeds.
"""
import glob
import os

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

import configs
from conftest import TEST_DATA
from musicgen import midi_io
from musicgen.config import converter_for
from musicgen.converters.base import with_notes

SEEDS = (1, 2)


def _configs_per_converter_class():
    seen = {}
    for name, cfg in sorted(configs.CONFIG_MAP.items()):
        conv = cfg.data_converter
        # one config per converter class and window length (melody / drums / groove)
        key = (type(conv).__name__, getattr(conv, "_slice_bars", None),
               getattr(conv, "_split_bars", None))
        seen.setdefault(key, name)
    return sorted(seen.values())


CONFIGS = _configs_per_converter_class()


def _tied_sequence(seed: int) -> music_pb2.NoteSequence:
    """18 bars at 120 qpm on a 16th grid: piano chords (melody program), a bass line, drums; many
    notes share start and end ticks, some pitches sound on two instruments."""
    rng = np.random.default_rng(seed)
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=120)
    ns.time_signatures.add(numerator=4, denominator=4)
    step = 0.125
    for s in range(0, 288, 2):
        t = s * step
        for pitch in rng.choice(np.arange(55, 80), size=rng.integers(1, 4), replace=False):
            ns.notes.add(pitch=int(pitch), velocity=int(rng.integers(40, 120)), start_time=t,
                         end_time=t + step * int(rng.integers(1, 4)), instrument=0, program=0)
        if s % 4 == 0:
            pitch = int(rng.integers(36, 56))
            ns.notes.add(pitch=pitch, velocity=90, start_time=t, end_time=t + 4 * step,
                         instrument=1, program=33)
            ns.notes.add(pitch=pitch + 24, velocity=70, start_time=t, end_time=t + 2 * step,
                         instrument=2, program=0)
        for drum in rng.choice([36, 38, 42, 46, 49, 51], size=rng.integers(1, 4), replace=False):
            ns.notes.add(pitch=int(drum), velocity=int(rng.integers(30, 127)),
                         start_time=t + rng.normal(0, 0.01) if t else 0.0,
                         end_time=t + step, instrument=9, is_drum=True)
    ns.total_time = 288 * step
    return ns


def _groove_sequence() -> music_pb2.NoteSequence:
    path = sorted(glob.glob(os.path.join(TEST_DATA, "groove", "**", "*.mid"), recursive=True))[0]
    return midi_io.midi_file_to_note_sequence(path)


def _drums_only(ns):
    return with_notes(ns, [n for n in ns.notes if n.is_drum])


SEQUENCES = {"tied-0": lambda: _tied_sequence(0), "tied-1": lambda: _tied_sequence(1),
             "tied-drums": lambda: _drums_only(_tied_sequence(2)), "groove": _groove_sequence}


def _shuffled(ns, seed):
    order = np.random.default_rng(seed).permutation(len(ns.notes))
    return with_notes(ns, [ns.notes[i] for i in order])


def _tensors(config_name, ns):
    conv = converter_for(configs.CONFIG_MAP[config_name], "eval", seed=0)
    try:
        t = conv.to_tensors(ns)
    except ValueError:  # a sequence the converter refuses is refused shuffled too (the message
        return ["refused"]  # may name another first offending note)
    return [np.asarray(x) for x in (*t.inputs, "|", *t.outputs, "|", *t.controls, "|",
                                    *t.lengths)]


@pytest.mark.parametrize("config_name", CONFIGS)
@pytest.mark.parametrize("sequence", sorted(SEQUENCES))
def test_tensors_do_not_depend_on_note_order(config_name, sequence):
    ns = SEQUENCES[sequence]()
    reference = _tensors(config_name, ns)
    for seed in SEEDS:
        got = _tensors(config_name, _shuffled(ns, seed))
        assert len(got) == len(reference), (config_name, sequence, seed)
        for a, b in zip(got, reference):
            np.testing.assert_array_equal(a, b, err_msg=f"{config_name} {sequence} seed {seed}")


def test_the_check_sees_every_converter_class_and_real_windows():
    classes = {type(configs.CONFIG_MAP[c].data_converter).__name__ for c in CONFIGS}
    every = {type(c.data_converter).__name__ for c in configs.CONFIG_MAP.values()}
    assert classes == every
    # the shuffles are not vacuous: the converters produce windows from these sequences
    windows = {}
    for c in CONFIGS:
        conv = converter_for(configs.CONFIG_MAP[c], "eval", seed=0)
        for s in SEQUENCES:
            try:
                n = len(conv.to_tensors(SEQUENCES[s]()).inputs)
            except ValueError:
                n = 0
            windows[type(conv).__name__] = windows.get(type(conv).__name__, 0) + n
    assert all(n > 0 for n in windows.values()), windows
