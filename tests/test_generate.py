"""python -m musicgen.generate: files, names, modes and flag errors (tiny checkpoint in tmp_path)."""
import glob
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from absl import flags

from conftest import ROOT, TEST_DATA
from generate_testlib import TINY_GROOVE, export_tiny, note_tuples
from musicgen import checkpoints, generate, midi_io
from note_seq.protobuf import music_pb2

NAME = re.compile(r"groovae_4bar_(sample|interpolate|reconstruct)_"
                  r"\d{4}-\d\d-\d\d_\d{6}-(\d{3})-of-(\d{3})\.mid$")
ROCK = os.path.join(TEST_DATA, "groove", "drummer7", "session1", "10_rock_93_beat_4-4.mid")
FUNK = os.path.join(TEST_DATA, "groove", "drummer1", "eval_session", "1_funk-groove1_138_beat_4-4.mid")
WALTZ = os.path.join(TEST_DATA, "groove", "drummer1", "session2", "1_latin-chacarera_157_beat_3-4.mid")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return export_tiny(tmp_path_factory.mktemp("ckpt"), "groovae_4bar", TINY_GROOVE)


def run_flags(*argv):
    """Parse argv on a private FlagValues and run the CLI body in-process."""
    fv = generate.define_flags(flags.FlagValues())
    fv(["generate", *argv])
    return generate.run(fv)


def check_midi_files(paths, n):
    assert len(paths) == n
    seqs = []
    for i, path in enumerate(sorted(paths)):
        m = NAME.search(os.path.basename(path))
        assert m, path
        assert (int(m.group(2)), int(m.group(3))) == (i, n)
        seqs.append(midi_io.midi_file_to_note_sequence(path))
    assert all(ns.notes and all(x.is_drum for x in ns.notes) for ns in seqs)
    return seqs


def test_cli_subprocess_writes_distinct_valid_midi_into_default_dir(ckpt, tmp_path):
    """A fresh process in another cwd: default ./generated, Magenta names, printed folder."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-m", "musicgen.generate", f"--checkpoint_file={ckpt}",
                           "--num_outputs=3", "--temperature=1.0"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out_dir = tmp_path / "generated"
    assert str(out_dir) in proc.stdout
    seqs = check_midi_files(glob.glob(str(out_dir / "*.mid")), 3)
    assert len({tuple(note_tuples(ns)) for ns in seqs}) == 3


def test_seed_makes_the_files_identical(ckpt, tmp_path):
    a = run_flags(f"--checkpoint_file={ckpt}", "--num_outputs=2", "--seed=3",
                  f"--output_dir={tmp_path / 'a'}")
    b = run_flags(f"--checkpoint_file={ckpt}", "--num_outputs=2", "--seed=3",
                  f"--output_dir={tmp_path / 'b'}")
    for pa, pb in zip(a, b):
        assert note_tuples(midi_io.midi_file_to_note_sequence(pa)) == \
            note_tuples(midi_io.midi_file_to_note_sequence(pb))


def test_interpolate_and_reconstruct_real_groove_files(ckpt, tmp_path):
    paths = run_flags(f"--checkpoint_file={ckpt}", "--mode=interpolate", f"--input_midi_1={ROCK}",
                      f"--input_midi_2={FUNK}", "--num_outputs=4", f"--output_dir={tmp_path}")
    check_midi_files(paths, 4)
    paths = run_flags(f"--checkpoint_file={ckpt}", "--mode=reconstruct", f"--input_midi_1={ROCK}", f"--output_dir={tmp_path}/r")
    check_midi_files(paths, 1)


def test_run_dir_of_a_training_run(tmp_path):
    """A training checkpoint (compiled model, optimizer state in the weights) loads via --run_dir."""
    _, model = checkpoints.build_model_for("groovae_4bar", TINY_GROOVE, compile=True)
    model.optimizer.build(model.trainable_variables)
    checkpoints.save_checkpoint(tmp_path / "run", model, model.optimizer, 7, "groovae_4bar",
                                TINY_GROOVE)
    check_midi_files(run_flags(f"--run_dir={tmp_path / 'run'}", "--num_outputs=2",
                               f"--output_dir={tmp_path / 'out'}"), 2)


@pytest.mark.parametrize("argv, message", [
    (["--run_dir=/x", "--checkpoint_file=/y"], r"--run_dir and --checkpoint_file are exclusive"),
    (["--checkpoint_file=/no/such.weights.h5"], r"--checkpoint_file: .*/no/such\.weights\.h5"),
    (["--run_dir=/no/run"], r"--run_dir: .*/no/run"),
    (["--config=cat-mel_2bar_big"], r"--config=cat-mel_2bar_big needs --run_dir"),
    (["--config=nonexistent"], r"--config: unknown config 'nonexistent'; valid configs: .*groovae_4bar"),
    (["--mode=interpolate", f"--input_midi_1={ROCK}"], r"--input_midi_2 is required"),
    (["--mode=reconstruct", "--input_midi_1=/no/such.mid"], r"--input_midi_1: file not found"),
])
def test_flag_errors_before_loading_any_model(argv, message):
    with pytest.raises(generate.FlagError, match=message):
        run_flags(*argv)


def test_not_midi_input_names_the_flag(ckpt, tmp_path):
    bad = tmp_path / "notes.mid"
    bad.write_text("this is not a MIDI file")
    with pytest.raises(generate.FlagError, match="--input_midi_1: not a readable MIDI file"):
        run_flags(f"--checkpoint_file={ckpt}", "--mode=reconstruct", f"--input_midi_1={bad}")


def test_input_without_a_window_names_the_flag(ckpt, tmp_path):
    with pytest.raises(generate.FlagError, match="--input_midi_2: .*3/4"):
        run_flags(f"--checkpoint_file={ckpt}", "--mode=interpolate", f"--input_midi_1={ROCK}",
                  f"--input_midi_2={WALTZ}", f"--output_dir={tmp_path}")


def test_unknown_config_and_hparam_name_the_flag(ckpt):
    with pytest.raises(generate.FlagError, match="--config: unknown config 'nope'"):
        run_flags(f"--checkpoint_file={ckpt}", "--config=nope")
    with pytest.raises(generate.FlagError, match="--hparams: unknown hparam"):
        run_flags(f"--checkpoint_file={ckpt}", "--hparams=bogus=1")


def test_missing_bundled_model_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(checkpoints, "PRETRAINED_DIR", str(tmp_path))
    with pytest.raises(generate.FlagError, match="bundled model .* is missing"):
        run_flags("--num_outputs=1", f"--output_dir={tmp_path}")


def test_bundled_default_model_generates(tmp_path):
    # The bundled weights ship in the package: their absence is a packaging bug, not a skip.
    assert os.path.exists(checkpoints.pretrained_path("groovae_4bar") + checkpoints.WEIGHTS_SUFFIX)
    check_midi_files(run_flags("--num_outputs=2", f"--output_dir={tmp_path}"), 2)


def test_reconstruct_keeps_the_input_tempo_and_qpm_sets_it(ckpt, tmp_path):
    """Decoders work on a 120-qpm grid: outputs are retimed to the input's tempo, or --qpm."""
    from musicgen import midi_io
    source = midi_io.midi_file_to_note_sequence(ROCK)
    qpm = source.tempos[0].qpm
    (path,) = run_flags(f"--checkpoint_file={ckpt}", "--mode=reconstruct", f"--input_midi_1={ROCK}",
                        f"--output_dir={tmp_path / 'r'}", "--seed=1", "--temperature=0")
    out = midi_io.midi_file_to_note_sequence(path)
    assert out.tempos[0].qpm == pytest.approx(qpm, abs=0.01)
    assert all(n.start_time < 4 * 4 * 60.0 / qpm + 1e-6 for n in out.notes)  # within 4 bars
    paths = run_flags(f"--checkpoint_file={ckpt}", "--num_outputs=1", "--qpm=60", "--seed=1",
                      f"--output_dir={tmp_path / 's'}", "--temperature=0")
    slow = midi_io.midi_file_to_note_sequence(paths[0])
    assert slow.tempos[0].qpm == pytest.approx(60.0)
    fast = run_flags(f"--checkpoint_file={ckpt}", "--num_outputs=1", "--seed=1",
                     f"--output_dir={tmp_path / 'f'}", "--temperature=0")
    fast = midi_io.midi_file_to_note_sequence(fast[0])
    assert fast.tempos[0].qpm == pytest.approx(120.0)
    assert [round(n.start_time, 3) for n in slow.notes] == [
        round(2 * n.start_time, 3) for n in fast.notes]


def test_at_tempo_scales_every_time_and_sets_one_tempo():
    from note_seq.protobuf import music_pb2

    from musicgen.families.vae import at_tempo
    ns = music_pb2.NoteSequence(total_time=2.0)
    ns.tempos.add(qpm=120.0)
    ns.notes.add(pitch=36, velocity=90, start_time=0.5, end_time=0.625, is_drum=True)
    ns.control_changes.add(time=1.0, control_number=64, control_value=127)
    (slow,) = at_tempo([ns], 93.0)
    factor = 120.0 / 93.0
    assert [t.qpm for t in slow.tempos] == [93.0]
    assert (slow.notes[0].start_time, slow.notes[0].end_time) == pytest.approx(
        (0.5 * factor, 0.625 * factor))
    assert slow.control_changes[0].time == pytest.approx(factor)
    assert slow.total_time == pytest.approx(2.0 * factor) and ns.notes[0].start_time == 0.5


def test_output_dir_problems_are_flag_errors_before_loading(tmp_path, monkeypatch):
    """An existing file or an unwritable place as --output_dir: a FlagError before any model loads."""
    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded before --output_dir was checked")
    monkeypatch.setattr(generate, "load_wrapper", no_loading)
    monkeypatch.setattr(generate, "checkpoint_flag", no_loading)
    a_file = tmp_path / "taken.mid"
    a_file.write_text("x")
    with pytest.raises(generate.FlagError, match="--output_dir=.*taken.mid: exists and is not a dir"):
        run_flags(f"--output_dir={a_file}")
    with pytest.raises(generate.FlagError, match="--output_dir=.*taken.mid/sub: cannot write there"):
        run_flags(f"--output_dir={a_file}/sub")


def test_a_checkpoint_of_another_config_is_refused(ckpt, tmp_path):
    for other in ("groovae_2bar_humanize", "cat-mel_2bar_small"):
        with pytest.raises(generate.FlagError, match=f"--config={other}: .* holds a groovae_4bar "
                                                     f"model; pass --config=groovae_4bar"):
            run_flags(f"--checkpoint_file={ckpt}", f"--config={other}",
                      f"--output_dir={tmp_path}")


def test_reconstruct_chooses_a_window_or_all_and_says_so(ckpt, tmp_path, capsys):
    from musicgen import midi_io
    from musicgen.trained_model import TrainedModel
    count = TrainedModel(checkpoint_path=ckpt).count_windows(midi_io.midi_file_to_note_sequence(ROCK))
    assert count > 1
    paths = run_flags(f"--checkpoint_file={ckpt}", "--mode=reconstruct", f"--input_midi_1={ROCK}",
                      "--input_window=all", "--num_outputs=5", f"--output_dir={tmp_path / 'a'}")
    out = capsys.readouterr().out
    assert len(paths) == count
    assert f"--input_midi_1: {count} windows of 64 steps; using all windows" in out
    assert f"writes one file per reconstructed window ({count}); --num_outputs=5 is not used" in out
    (one,) = run_flags(f"--checkpoint_file={ckpt}", "--mode=reconstruct", f"--input_midi_1={ROCK}",
                       "--input_window=1", f"--output_dir={tmp_path / 'b'}")
    assert "using window 1" in capsys.readouterr().out
    for bad, message in ((str(count), f"--input_window={count}: --input_midi_1 has {count}"),
                         ("x", "--input_window=x: a window number")):
        with pytest.raises(generate.FlagError, match=message):
            run_flags(f"--checkpoint_file={ckpt}", "--mode=reconstruct", f"--input_midi_1={ROCK}",
                      f"--input_window={bad}", f"--output_dir={tmp_path / 'c'}")


def test_render_audio_and_plot_write_a_wav_and_a_png_per_midi(ckpt, tmp_path):
    from musicgen import render
    paths = run_flags(f"--checkpoint_file={ckpt}", "--num_outputs=5", "--render_audio", "--plot",
                      "--temperature=1.0", "--seed=5", f"--output_dir={tmp_path}")
    check_midi_files(paths, 5)
    for path in paths:
        stem = os.path.splitext(path)[0]
        audio, rate = render.read_wav(stem + ".wav")
        assert rate == render.SAMPLE_RATE and audio.shape[1] == 2
        assert 0.8 < np.abs(audio).max() < 1.0           # -1 dBFS peak: audible, unclipped
        with open(stem + ".png", "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert len(os.listdir(tmp_path)) == 15


def test_render_audio_without_a_synthesizer_warns_and_still_writes_midi(ckpt, tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT, PATH="/nonexistent")   # no fluidsynth on PATH
    proc = subprocess.run([sys.executable, "-m", "musicgen.generate", f"--checkpoint_file={ckpt}",
                           "--num_outputs=2", "--render_audio", f"--output_dir={tmp_path}"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "warning: --render_audio: the `fluidsynth` program is not installed" in proc.stderr
    assert "apt-get install fluidsynth" in proc.stderr
    assert sorted(os.path.splitext(f)[1] for f in os.listdir(tmp_path)) == [".mid", ".mid"]


def test_missing_soundfont_flag_is_an_error_before_loading(tmp_path):
    with pytest.raises(generate.FlagError, match="--soundfont=.*none.sf2: file not found"):
        run_flags("--render_audio", f"--soundfont={tmp_path}/none.sf2", f"--output_dir={tmp_path}",
                  "--checkpoint_file=/nonexistent/never_loaded")
    with pytest.raises(generate.FlagError, match="--soundfont is only used with --render_audio"):
        run_flags(f"--soundfont={tmp_path}/x.sf2", f"--output_dir={tmp_path}")


@pytest.mark.parametrize("config, bars", [("cat-mel_2bar_small", 2), ("hierdec-mel_4bar", 4),
                                          ("cat-drums_2bar_small", 2)])
def test_bundled_melody_and_drum_models_generate(config, bars, tmp_path):
    """Every bundled MusicVAE generates with no checkpoint flag: its instrument kind, its length;
    the hierarchical model plays beyond a 2-bar model's span (its conductor's bars 3 and 4)."""
    paths = run_flags(f"--config={config}", "--num_outputs=2", f"--output_dir={tmp_path}",
                      "--seed=1")
    assert len(paths) == 2
    sequences = [midi_io.midi_file_to_note_sequence(p) for p in paths]
    for ns in sequences:
        assert ns.notes and all(n.is_drum == ("drums" in config) for n in ns.notes)
        assert max(n.start_time for n in ns.notes) < 2.0 * bars + 0.01   # at 120 bpm
    if bars == 4:
        assert any(n.start_time >= 4.0 for ns in sequences for n in ns.notes)


def _melody_file(path, pitches):
    """A one-instrument piano melody of eighth notes at 120 qpm (0.25 s each)."""
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=120)
    for i, p in enumerate(pitches):
        ns.notes.add(pitch=p, velocity=90, start_time=0.25 * i, end_time=0.25 * i + 0.2,
                     program=0, instrument=0)
    ns.total_time = 0.25 * len(pitches)
    midi_io.note_sequence_to_midi_file(ns, str(path))
    return str(path)


def test_bundled_melody_model_interpolates_two_melodies(tmp_path):
    up = _melody_file(tmp_path / "up.mid", [60, 62, 64, 65, 67, 69, 71, 72] * 2)
    down = _melody_file(tmp_path / "down.mid", [84, 79, 76, 72, 79, 76, 72, 67] * 2)
    paths = run_flags("--config=cat-mel_2bar_small", "--mode=interpolate", f"--input_midi_1={up}",
                      f"--input_midi_2={down}", "--num_outputs=5", f"--output_dir={tmp_path / 'o'}",
                      "--seed=1")
    assert len(paths) == 5
    means = []
    for path in paths:
        ns = midi_io.midi_file_to_note_sequence(path)
        assert ns.notes and not any(n.is_drum for n in ns.notes)
        means.append(sum(n.pitch for n in ns.notes) / len(ns.notes))
    # the ends reconstruct their inputs' registers (means 66.3 and 75.6), the path moves between
    assert means[0] < means[-1]
