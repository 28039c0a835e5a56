"""musicgen.realism (drum / pitched features, MGEval overlap) and the `python -m musicgen.report`
CLI: features on synthetic NoteSequences whose answers are known, and one end-to-end report of
the bundled groovae_4bar against the Groove fixtures (tests/data/groove, CC BY 4.0)."""
import glob
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from conftest import ROOT, TEST_DATA
from musicgen.realism import drum_features as df
from musicgen.realism import overlap
from musicgen.realism import pitched_features as pf

KICK, SNARE, HH, RIDE = 36, 38, 42, 51


# ---- overlap ---------------------------------------------------------------------------------
def test_kde_is_a_normalised_gaussian_mixture_with_silverman_bandwidth():
    x = np.array([0.0, 1.0, 3.0, 4.0])
    h = overlap.silverman_bandwidth(x)
    assert h == pytest.approx(x.std(ddof=1) * (0.75 * 4) ** -0.2)
    grid = np.array([0.0, 2.0])
    expected = [np.mean(np.exp(-0.5 * ((g - x) / h) ** 2)) / (h * math.sqrt(2 * math.pi))
                for g in grid]
    assert overlap.gaussian_kde(x, grid) == pytest.approx(expected)
    fine = np.linspace(-20, 25, 4001)
    assert np.trapezoid(overlap.gaussian_kde(x, fine), fine) == pytest.approx(1.0, abs=1e-3)
    assert overlap.silverman_bandwidth(np.full(5, 2.0)) == pytest.approx(3e-3)  # no spread


def test_overlap_area_ranks_sets_and_is_deterministic():
    rng = np.random.default_rng(1)
    data = rng.normal(0, 1, (400, 3))
    same = overlap.compare(data, rng.normal(0, 1, (400, 3)))
    near = overlap.compare(data, rng.normal(1.5, 1, (400, 3)))
    far = overlap.compare(data, rng.normal(4, 1, (400, 3)))
    assert same["overlap_area"] > 0.95
    assert 0.7 > near["overlap_area"] > 0.5 > 0.1 > far["overlap_area"]
    assert same["kl_divergence"] < near["kl_divergence"] < far["kl_divergence"]
    assert same["n_reference"] == same["n_other"] == overlap.MAX_ITEMS
    assert overlap.compare(data, data[::-1] + 4) == overlap.compare(data, data[::-1] + 4)
    with_nan = list(rng.normal(0, 1, 50)) + [float("nan")] * 10
    assert overlap.compare(with_nan, with_nan)["n_reference"] == 50
    assert overlap.compare([1.0], [1.0, 2.0])["overlap_area"] is None
    constant = overlap.compare([5.0] * 20, [5.0] * 20)
    assert constant["overlap_area"] > 0.99


@pytest.mark.parametrize("module", [overlap, df, pf])
def test_docstring_examples(module):
    import doctest
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


# ---- drum features ---------------------------------------------------------------------------
def groove(bars=4, qpm=120.0, drop_snare_bar=None, offset_ms=10.0):
    """Per bar: kick on steps 0, 8 (vel 90, +offset), snare on 4, 12 (vel 90, -offset), closed
    hi-hat on every 8th: on the beats vel 100 (+offset), on the "and"s vel 60 (-offset)."""
    ns = music_pb2.NoteSequence()
    ns.tempos.add(qpm=qpm)
    step = 60.0 / qpm / 4
    d = offset_ms / 1000.0
    for bar in range(bars):
        hits = [(KICK, 0, 90, d), (KICK, 8, 90, d), (SNARE, 4, 90, -d), (SNARE, 12, 90, -d)]
        hits += [(HH, s, 100 if s % 4 == 0 else 60, d if s % 4 == 0 else -d)
                 for s in range(0, 16, 2)]
        for pitch, s, vel, off in hits:
            if pitch == SNARE and bar == drop_snare_bar and s == 12:
                continue
            t = (bar * 16 + s) * step + off
            ns.notes.add(pitch=pitch, velocity=vel, start_time=t, end_time=t + step, is_drum=True)
    return ns


@pytest.mark.parametrize("qpm", [120.0, 90.0])
def test_drum_features_of_a_known_groove(qpm):
    ns = groove(qpm=qpm)
    assert df.window_bars(ns) == 4
    f = df.sample_features(ns, bars=4)
    assert f["hits_per_bar"] == 12 and f["kick_per_bar"] == 2 and f["snare_per_bar"] == 2
    assert f["closed_hh_per_bar"] == 8 and f["ride_per_bar"] == 0
    assert f["timing_spread_ms"] == pytest.approx(10.0)
    assert f["hihat_accent"] == pytest.approx(40.0)
    assert f["loud_share"] == pytest.approx(1 / 3)
    assert f["velocity_hist"] == pytest.approx([0, 0, 0, 1 / 3, 0, 1 / 3, 1 / 3, 0])
    step_ms = 60000.0 / qpm / 4  # offsets of +-10 ms: bins just above / below 0
    bins = np.digitize([10 / step_ms, -10 / step_ms], df.OFFSET_EDGES) - 1
    expected = np.zeros(10)
    expected[bins] = 0.5
    assert f["offset_hist"] == pytest.approx(expected)
    assert (f["kick_on_1"], f["snare_on_2_4"], f["bar_similarity"], f["coherent_loop"]) == (
        1.0, 1.0, 1.0, 1.0)


def test_drum_loop_breaks_without_a_snare_or_with_a_different_bar():
    f = df.sample_features(groove(drop_snare_bar=2), bars=4)
    assert f["snare_on_2_4"] == 0.75
    assert f["bar_similarity"] == pytest.approx((1 + 11 / 12 + 1) / 3)
    assert f["coherent_loop"] == 1.0  # bar 3 still has a snare (beat 2) and is similar enough
    ns = groove()
    for note in ns.notes:  # bar 4: no snare at all
        if note.pitch == SNARE and note.start_time >= 3 * 2.0:
            note.pitch = 50  # high tom
    f = df.sample_features(ns, bars=4)
    assert f["snare_on_2_4"] == 0.75 and f["coherent_loop"] == 0.0
    f = df.sample_features(groove(bars=2), bars=4)  # a window twice as long: bars 3-4 empty
    assert f["hits_per_bar"] == 6 and f["coherent_loop"] == 0.0
    assert f["bar_similarity"] == pytest.approx(1 / 3)


def test_groove_targets_pool_and_check():
    sparse = music_pb2.NoteSequence()
    sparse.tempos.add(qpm=120)
    for i in range(16):  # 4 kicks per bar, velocity 110, on the beats: < 6 hits per bar
        sparse.notes.add(pitch=KICK, velocity=110, start_time=i * 0.5, end_time=i * 0.5 + 0.1,
                         is_drum=True)
    t = df.groove_targets([groove(), sparse], bars=4)
    assert t["sparse_share"] == 0.5 and t["coherent_loop_rate"] == 0.5
    assert t["loud_hit_share"] == pytest.approx((16 + 16) / (48 + 16))
    assert t["hihat_on_beat_velocity"] == 100 and t["hihat_off_beat_velocity"] == 60
    assert t["hihat_accent"] == 40
    assert t["timing_spread_ms"] == pytest.approx((10.0 + 0.0) / 2)
    assert t["kick_on_1_rate"] == 1.0 and t["snare_on_2_4_rate"] == 0.5
    assert df.check_target("sparse_share", t["sparse_share"]) is False
    assert df.check_target("hihat_accent", t["hihat_accent"]) is True
    assert df.check_target("ride_per_bar", 1.0) is None


# ---- pitched features ------------------------------------------------------------------------
def melody(pitches, dur=0.5, qpm=120.0):
    ns = music_pb2.NoteSequence()
    ns.tempos.add(qpm=qpm)
    for i, p in enumerate(pitches):
        ns.notes.add(pitch=p, velocity=80, start_time=i * dur, end_time=(i + 1) * dur)
    return ns


def test_pitched_features_of_a_scale():
    ns = melody([60, 62, 64, 65, 67, 69, 71, 72])  # C major, C twice
    ns.notes.add(pitch=KICK, velocity=100, start_time=0.1, end_time=0.2, is_drum=True)  # ignored
    f = pf.sample_features(ns)
    assert f["pitch_class_entropy"] == pytest.approx(2.75)
    assert f["pitch_class_hist"][0] == 0.25 and f["pitch_class_hist"][1] == 0
    assert f["interval_hist"][12 + 2] == pytest.approx(5 / 7)
    assert f["interval_hist"][12 + 1] == pytest.approx(2 / 7)
    assert (f["note_density"], f["polyphony"], f["empty_beat_rate"],
            f["scale_consistency"]) == (2.0, 1.0, 0.0, 1.0)
    assert pf.sample_features(melody([60, 62, 64, 65, 66]))["scale_consistency"] == 0.8
    assert f["pitch_range"] == 12.0  # C4..C5; the drum note (kick 36) is not pitched


def test_pitched_chords_rests_leaps_and_drum_only():
    ns = music_pb2.NoteSequence()
    ns.tempos.add(qpm=120)
    for p in (60, 64, 67):  # a 1 s chord, 1 s rest, then a note 17 semitones above the top
        ns.notes.add(pitch=p, velocity=80, start_time=0.003 * (p - 60) / 7, end_time=1.0)
    ns.notes.add(pitch=84, velocity=80, start_time=2.0, end_time=2.5)
    f = pf.sample_features(ns)
    assert f["polyphony"] == 2.0
    assert f["empty_beat_rate"] == pytest.approx(2 / 5)
    assert f["interval_hist"][-1] == 1.0  # +17 clipped to +12
    assert f["note_density"] == pytest.approx(4 / 2.5)
    drums = pf.sample_features(groove(bars=1))
    assert all(np.isnan(v).all() for v in drums.values())


# ---- the CLI ---------------------------------------------------------------------------------
def run_cli(*args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "musicgen.report", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args,flag", [((), "--dataset_dir"), (("--num_samples=x",),
                                                                "--num_samples"),
                                       (("--dataset_dir=/nonexistent/x",), "--dataset_dir")])
def test_bad_flags_give_one_line(args, flag):
    proc = run_cli(*args)
    assert proc.returncode == 1
    lines = [l for l in proc.stderr.splitlines() if "Warning" not in l and "warn(" not in l]
    assert len(lines) == 1 and lines[0].startswith(f"musicgen.report: error: {flag}"), lines
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def groove_test_dir(tmp_path_factory):
    """The five Groove fixture files as one `test` NoteSequence shard."""
    from musicgen import midi_io
    from musicgen.datasets.tfrecord import ShardedWriter
    out = tmp_path_factory.mktemp("groove_ns")
    files = sorted(glob.glob(os.path.join(TEST_DATA, "groove", "**", "*.mid"), recursive=True))
    assert len(files) == 5
    with ShardedWriter(str(out), "test", num_shards=1) as w:
        for f in files:
            w.write(midi_io.midi_file_to_note_sequence(f).SerializeToString())
    return str(out)


def test_report_end_to_end(groove_test_dir, tmp_path, capsys):
    from musicgen import report
    with pytest.raises(report.FlagError, match="--split=validation"):
        report.run([f"--dataset_dir={groove_test_dir}", "--split=validation"])
    out_dir = str(tmp_path / "reports")
    result = report.run([f"--dataset_dir={groove_test_dir}", "--num_samples=8",
                         "--max_windows=16", f"--output_dir={out_dir}", "--seed=3"])
    prefix = os.path.join(out_dir, "groovae_4bar_test_report")
    with open(prefix + ".json") as f:
        saved = json.load(f)
    assert saved["features"].keys() == result["features"].keys()
    assert list(saved["features"]) == [name for name, _, _ in df.FEATURES]  # drums only
    assert saved["num_windows"] == 16 < saved["split_windows"] and saved["num_samples"] == 8
    assert saved["drum_window_bars"] == 4
    feats = saved["features"]
    for row in feats.values():
        for s in ("generated", "untrained"):
            oa = row[f"{s}_vs_data"]["overlap_area"]
            assert oa is None or 0.0 <= oa <= 1.0
        assert row["closer"] in (True, False, None)
    assert 5 < feats["hits_per_bar"]["data"]["mean"] < 40
    assert feats["hits_per_bar"]["untrained"]["mean"] > 40  # random hits on ~half the cells
    assert 0 < feats["hits_per_bar"]["generated"]["mean"] < 40
    assert feats["hits_per_bar"]["closer"] is True
    # the data row is the drum features of exactly the report's data windows (recomputed here),
    # and human drumming on the fixtures is loose: several ms, not the 0 of a quantized file
    from musicgen import config as config_lib
    from musicgen.paths import split_files, split_pattern
    windows, _ = report.data_windows(config_lib.config_map()["groovae_4bar"],
                                     split_files(split_pattern(groove_test_dir, "test"), "test"), 16)
    spreads = [v for v in df.set_features(windows, 4)["timing_spread_ms"] if not math.isnan(v)]
    assert feats["timing_spread_ms"]["data"]["mean"] == pytest.approx(np.mean(spreads), rel=1e-6)
    assert feats["timing_spread_ms"]["data"]["mean"] > 5.0
    assert sum(feats["velocity_hist"]["data"]["mean"]) == pytest.approx(1.0, abs=1e-3)
    targets = saved["groove_targets"]
    assert 0 <= targets["loud_hit_share"]["data"] <= 1
    assert targets["timing_spread_ms"]["target"] == ">= 15"
    assert targets["coherent_loop_rate"]["passed"] in (True, False)
    md = open(prefix + ".md").read()
    assert md.count("\n| ") == 2 * 1 + len(feats) + len(targets)  # 2 header rows per table
    assert "| hits per bar |" in md and "| timing_spread_ms |" in md
    assert "hits per bar" in capsys.readouterr().out
    with open(prefix + ".png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image
    height, width = matplotlib.image.imread(prefix + ".png").shape[:2]
    assert width > 1000 and height > 700
