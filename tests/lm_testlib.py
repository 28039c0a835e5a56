"""Helpers for the token-LM tests: piano NoteSequences made in code, NoteSequence shards, tiny
exported models of the real LM configs (not a test module itself)."""
import os

import numpy as np
from note_seq.protobuf import music_pb2

from musicgen import checkpoints
from musicgen.datasets.tfrecord import ShardedWriter

TINY_LM = "rnn_size=[16],embedding_size=8,batch_size=4"
LM_CONFIG = "performance_rnn_small"


def piano_sequence(num_notes: int = 120, seed: int = 0, filename: str = "piano.mid",
                   sustain: bool = False) -> music_pb2.NoteSequence:
    """A piano line with chords: random pitches 40..96, velocities 30..110, 0.05..0.4 s notes on
    a 10 ms grid; a pitch is never struck again while it sounds (MIDI cannot hold that)."""
    rng = np.random.default_rng(seed)
    ns = music_pb2.NoteSequence(ticks_per_quarter=220, filename=filename, id=filename)
    ns.tempos.add(qpm=120)
    t, sounding_until = 0.0, {}
    for _ in range(num_notes):
        dur = float(rng.uniform(0.05, 0.4))
        for k in range(int(rng.integers(1, 3))):
            pitch = int(rng.integers(40, 90)) + 7 * k
            if sounding_until.get(pitch, -1.0) >= round(t, 2):
                continue
            sounding_until[pitch] = round(t + dur, 2)
            ns.notes.add(pitch=pitch, velocity=int(rng.integers(30, 110)),
                         start_time=round(t, 2), end_time=round(t + dur, 2), instrument=0,
                         program=0)
        t += float(rng.uniform(0.05, 0.3))
    if sustain:
        ns.control_changes.add(time=0.5, control_number=64, control_value=127)
        ns.control_changes.add(time=2.0, control_number=64, control_value=0)
    ns.total_time = max(n.end_time for n in ns.notes)
    return ns


def write_piano_shards(directory, counts=(("train", 6), ("validation", 2), ("test", 2))) -> str:
    """NoteSequence shards <dir>/<split>-NNNNN-of-MMMMM.tfrecord of piano sequences."""
    directory = os.fspath(directory)
    seed = 0
    for split, n in counts:
        with ShardedWriter(directory, split, num_shards=1) as w:
            for _ in range(n):
                w.write(piano_sequence(150, seed, f"{split}_{seed}.mid").SerializeToString())
                seed += 1
    return directory


def export_tiny_lm(directory, config_name: str = LM_CONFIG, hparams: str = TINY_LM,
                   name: str = "tiny_lm") -> str:
    """An untrained tiny model of a real LM config, exported as the bundled models are."""
    _, model = checkpoints.build_model_for(config_name, hparams, build=False)
    return checkpoints.export_weights(model, os.path.join(os.fspath(directory), name),
                                      config_name, hparams, dtype="float32")
