"""musicgen.render: real FluidSynth renderings with the OS's GM soundfont (installed by `make setup`).

No mocks: these tests fail where fluidsynth or a soundfont is missing, because `make test` installs
both; `musicgen.render.INSTALL_HINT` says how.
"""
import os
import subprocess
import sys

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from conftest import ROOT
from musicgen import midi_io, render

RATE = 22050


def drum_file(tmp_path, hits, name="drums.mid", is_drum=True, qpm=120.0):
    """hits: [(time s, pitch, velocity)] as drum notes (channel 10) or as piano notes."""
    ns = music_pb2.NoteSequence(ticks_per_quarter=480)
    ns.tempos.add(qpm=qpm)
    for t, pitch, vel in hits:
        ns.notes.add(pitch=pitch, velocity=vel, start_time=t, end_time=t + 0.1, is_drum=is_drum,
                     instrument=9 if is_drum else 0)
    ns.total_time = max(t for t, _, _ in hits) + 0.1
    path = str(tmp_path / name)
    midi_io.note_sequence_to_midi_file(ns, path)
    return path


def spectral_centroid(audio, rate):
    mono = audio.mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono))
    freqs = np.fft.rfftfreq(len(mono), 1.0 / rate)
    return float((spectrum * freqs).sum() / spectrum.sum())


def test_machine_has_a_synthesizer_and_a_gm_soundfont():
    synth, soundfont = render.check_available()
    assert os.access(synth, os.X_OK)
    assert soundfont.endswith((".sf2", ".sf3")) and os.path.getsize(soundfont) > 1_000_000


def test_groove_renders_at_the_target_peak_without_clipping_or_silence(tmp_path):
    hits = [(0.25 * i, 42, 90) for i in range(16)] + [(1.0 * i, 36, 120) for i in range(4)] \
        + [(0.5 + 1.0 * i, 38, 110) for i in range(4)]
    path = drum_file(tmp_path, hits)
    wav = str(tmp_path / "drums.wav")
    levels = render.render_midi(path, wav, sample_rate=RATE)
    audio, rate = render.read_wav(wav)
    assert rate == RATE and audio.shape[1] == 2
    assert levels.peak_dbfs == pytest.approx(render.PEAK_DBFS, abs=0.05)
    assert levels.clipped_samples == 0 and np.abs(audio).max() < 1.0
    assert -40.0 < levels.rms_dbfs < -6.0                      # audible, not a wall of noise
    assert 4.0 <= levels.seconds < 4.0 + 3.0                   # the groove, the tail trimmed
    # every 16th-note hi-hat is heard: energy right after each onset beats the gap before it
    env = np.abs(audio).max(axis=1)
    for i in range(1, 16):
        onset = int(0.25 * i * RATE)
        assert env[onset:onset + RATE // 50].max() > 3 * env[onset - RATE // 100:onset].mean()


def test_drums_sound_like_a_kit_not_like_piano_notes(tmp_path):
    """Channel 10 selects the GM kit: pitch 42 is a closed hi-hat (bright noise) and 36 a kick
    (low thump); as piano notes the same two pitches are a tritone apart."""
    centroids = {}
    for is_drum in (True, False):
        for pitch in (36, 42):
            path = drum_file(tmp_path, [(0.0, pitch, 100)], name=f"{pitch}_{is_drum}.mid",
                             is_drum=is_drum)
            render.render_midi(path, path[:-4] + ".wav", sample_rate=RATE)
            audio, _ = render.read_wav(path[:-4] + ".wav")
            centroids[(pitch, is_drum)] = spectral_centroid(audio, RATE)
    assert centroids[(42, True)] > 4 * centroids[(36, True)]
    assert centroids[(42, True)] > 4000.0 and centroids[(36, True)] < 2000.0
    assert centroids[(42, False)] < 2.5 * centroids[(36, False)]


def test_explicit_soundfont_and_env_var_must_exist(tmp_path, monkeypatch):
    with pytest.raises(render.RenderUnavailable, match="--soundfont=.*not found"):
        render.find_soundfont(str(tmp_path / "none.sf2"))
    monkeypatch.setenv(render.SOUNDFONT_ENV, str(tmp_path / "none.sf2"))
    with pytest.raises(render.RenderUnavailable, match=render.SOUNDFONT_ENV):
        render.find_soundfont()
    monkeypatch.delenv(render.SOUNDFONT_ENV)
    found = render.find_soundfont()
    monkeypatch.setenv(render.SOUNDFONT_ENV, found)
    assert render.find_soundfont() == found


def test_no_soundfont_anywhere_is_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.delenv(render.SOUNDFONT_ENV, raising=False)
    monkeypatch.setattr(render, "SOUNDFONT_SEARCH", ())
    monkeypatch.setattr(render, "SOUNDFONT_DIRS", (str(tmp_path),))
    with pytest.raises(render.RenderUnavailable, match="no General MIDI soundfont.*apt-get install"):
        render.find_soundfont()


def test_cli_renders_good_files_and_reports_each_bad_one(tmp_path):
    good = drum_file(tmp_path, [(0.0, 36, 100), (0.5, 38, 100)])
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not midi at all")
    empty = tmp_path / "empty.mid"
    midi_io.note_sequence_to_midi_file(music_pb2.NoteSequence(ticks_per_quarter=480), str(empty))
    out = tmp_path / "wav"
    proc = subprocess.run([sys.executable, "-m", "musicgen.render", str(bad), good, str(empty),
                           str(tmp_path / "missing.mid"), f"--output_dir={out}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert (out / "drums.wav").exists() and len(os.listdir(out)) == 1
    assert "bad.mid: not a readable MIDI file" in proc.stderr
    assert "empty.mid: has no notes" in proc.stderr
    assert "missing.mid: file not found" in proc.stderr
    assert "3 of 4 files not rendered" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "peak -1.0 dBFS" in proc.stdout
