"""Helpers shared by the TrainedModel / generate CLI tests (not a test module itself).

Tiny models are real MusicVAEs of real configs with small hparams, exported with
musicgen.checkpoints exactly as the bundled model is.
"""
import os

import numpy as np
from note_seq.protobuf import music_pb2

from musicgen import checkpoints

TINY_GROOVE = "z_size=8,enc_rnn_size=[16],dec_rnn_size=[16]"
TINY_MELODY = "z_size=8,enc_rnn_size=[16],dec_rnn_size=[16]"
KICK, SNARE, CLOSED_HH = 36, 38, 42
SIXTEENTH = 0.125  # seconds at 120 qpm


def export_tiny(directory, config_name: str, hparams: str, name: str = "tiny") -> str:
    """Build a tiny untrained model of `config_name` and export it; returns the .weights.h5 path."""
    _, model = checkpoints.build_model_for(config_name, hparams, build=False)
    return checkpoints.export_weights(model, os.path.join(os.fspath(directory), name),
                                      config_name, hparams, dtype="float32")


def _sequence(qpm=120.0, numerator=4, denominator=4, filename=""):
    ns = music_pb2.NoteSequence(ticks_per_quarter=220, filename=filename)
    ns.tempos.add(qpm=qpm)
    ns.time_signatures.add(numerator=numerator, denominator=denominator)
    return ns


def groove_sequence(bars: int = 4, seed: int = 0, filename: str = "groove.mid", **kw):
    """A 4/4 rock groove at 120 qpm: kick 1 & 3, snare 2 & 4, hats on 8ths, random timing."""
    rng = np.random.default_rng(seed)
    ns = _sequence(filename=filename, **kw)
    for step in range(16 * bars):
        pitches = [CLOSED_HH] if step % 2 == 0 else []
        if step % 8 == 0:
            pitches.append(KICK)
        if step % 8 == 4:
            pitches.append(SNARE)
        for pitch in pitches:
            start = max(0.0, step * SIXTEENTH + rng.uniform(-0.02, 0.02))
            ns.notes.add(pitch=pitch, velocity=int(rng.integers(40, 127)), start_time=start,
                         end_time=start + SIXTEENTH, is_drum=True, instrument=9)
    ns.total_time = 16 * bars * SIXTEENTH
    return ns


def melody_sequence(pitches=(60, 62, 64, 65, 67, 65, 64, 62), filename="melody.mid"):
    """A 2-bar melody of quarter notes at 120 qpm (0.5 s each)."""
    ns = _sequence(filename=filename)
    for i, pitch in enumerate(pitches):
        ns.notes.add(pitch=pitch, velocity=80, start_time=0.5 * i, end_time=0.5 * (i + 1))
    ns.total_time = 0.5 * len(pitches)
    return ns


def note_tuples(ns):
    """Sorted (pitch, velocity, start, end) of a NoteSequence, rounded for comparisons."""
    return sorted((n.pitch, n.velocity, round(n.start_time, 4), round(n.end_time, 4))
                  for n in ns.notes)
