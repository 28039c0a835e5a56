"""Train on any folder (issue 13): a plain folder of melody MIDI files -> convert_midi --dataset=dir
(hash split) -> musicgen.train -> musicgen.evaluate --split=test, each through its real CLI."""
import json
import os
import subprocess
import sys

import numpy as np
from conftest import ROOT
from note_seq import midi_io as ns_midi_io
from note_seq.protobuf import music_pb2

from musicgen.datasets import readers

CONFIG = "cat-mel_2bar_small"
# generate_testlib.TINY_MELODY plus a small batch (not imported: it would load TensorFlow here)
TINY = "batch_size=4,z_size=8,enc_rnn_size=[16],dec_rnn_size=[16]"
NAMES = [f"folk/tune{i:02d}.mid" for i in range(24)]


def write_melody(path: str, seed: int, bars: int = 4) -> None:
    """A monophonic 4/4 melody of eighth notes at 120 qpm, written by note_seq."""
    rng = np.random.default_rng(seed)
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=120.0)
    ns.time_signatures.add(numerator=4, denominator=4)
    for step in range(8 * bars):
        start = 0.25 * step
        ns.notes.add(pitch=int(rng.integers(60, 73)), velocity=80, start_time=start,
                     end_time=start + 0.25, instrument=0, program=0)
    ns.total_time = 2.0 * bars
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ns_midi_io.sequence_proto_to_midi_file(ns, path)


def _run(args, timeout=240):
    proc = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, (args[0], proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def test_folder_to_train_and_evaluate(tmp_path):
    folder, data, run_dir = tmp_path / "midi", tmp_path / "ns", tmp_path / "run"
    for i, name in enumerate(NAMES):
        write_melody(str(folder / name), seed=i)
    _run(["pipelines.convert_midi", "--dataset=dir", f"--input_dir={folder}", f"--output_dir={data}",
          "--validation_fraction=0.2", "--test_fraction=0.2", "--num_workers=1"])
    manifest = json.loads((data / "manifest.json").read_text())
    expected = {s: sum(readers.hash_split(n, 0.2, 0.2) == s for n in NAMES)
                for s in ("test", "train", "validation")}
    assert manifest["counts"] == expected and min(expected.values()) > 0, expected
    assert manifest["num_skipped"] == 0
    assert sorted(os.listdir(data)) == ["manifest.json", "test-00000-of-00001.tfrecord",
                                        "train-00000-of-00001.tfrecord",
                                        "validation-00000-of-00001.tfrecord"]

    _run(["musicgen.train", f"--config={CONFIG}", f"--hparams={TINY}", "--num_steps=2",
          f"--dataset_dir={data}", f"--run_dir={run_dir}", "--progress=false", "--log_every=1"])
    assert json.loads((run_dir / "checkpoint.json").read_text())["step"] == 2

    out = tmp_path / "eval.json"
    proc = _run(["musicgen.evaluate", f"--checkpoint={run_dir}", f"--dataset_dir={data}",
                 "--split=test", f"--output_json={out}"])
    assert "on split 'test'" in proc.stdout
    report = json.loads(out.read_text())
    first = next(iter(report["results"].values()))
    assert first.get("num_sequences", first.get("windows")) > 0, report["results"]
