"""musicgen.plot (drum grid / piano roll PNGs) and musicgen.curves (TensorBoard curves PNG)."""
import glob
import os
import time

import numpy as np
import pytest
from note_seq.protobuf import music_pb2

from conftest import TEST_DATA
from musicgen import curves, plot
from test_train import CONFIG, TINY, groove_ns_dir  # noqa: F401 -- the module fixture

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_png(path, max_bytes=200_000):
    import matplotlib.image
    assert os.path.isfile(path)
    with open(path, "rb") as f:
        assert f.read(8) == PNG_SIGNATURE
    assert os.path.getsize(path) < max_bytes
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[1] >= 600 and pixels.shape[0] >= 250
    assert pixels[..., :3].std() > 0.01  # not a blank image
    return pixels


def sequence(notes, qpm=120.0, meter=(4, 4), total_time=None):
    ns = music_pb2.NoteSequence()
    if qpm:
        ns.tempos.add(time=0, qpm=qpm)
    if meter:
        ns.time_signatures.add(time=0, numerator=meter[0], denominator=meter[1])
    for pitch, start, end, velocity, is_drum in notes:
        ns.notes.add(pitch=pitch, start_time=start, end_time=end, velocity=velocity,
                     is_drum=is_drum, instrument=9 if is_drum else 0)
    ns.total_time = total_time if total_time is not None else max(
        [n.end_time for n in ns.notes] + [0.0])
    return ns


DRUM_HITS = [  # pitch, start, velocity
    (36, 0.0, 100), (42, 0.0, 70), (42, 0.25, 40), (38, 0.51, 90), (35, 1.0, 127),
    (46, 1.49, 1), (49, 2.0, 110), (24, 3.0, 50), (51, 3.987, 64)]


@pytest.fixture
def drums_ns():
    return sequence([(p, t, t + 0.01, v, True) for p, t, v in DRUM_HITS], total_time=4.0)


def main_axes(fig):
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]


def test_drum_grid_marks_at_exact_times_and_rows(drums_ns, tmp_path):
    data = plot.plot_data(drums_ns)
    assert data.panels == ["drums"]
    assert data.drum_rows == ["kick", "snare", "closed hi-hat", "open hi-hat", "low tom",
                              "mid tom", "high tom", "crash", "ride", "other"]
    row = {name: i for i, name in enumerate(data.drum_rows)}
    expected = sorted([(row["kick"], 0.0, 100), (row["closed hi-hat"], 0.0, 70),
                       (row["closed hi-hat"], 0.25, 40), (row["snare"], 0.51, 90),
                       (row["kick"], 1.0, 127), (row["open hi-hat"], 1.49, 1),
                       (row["crash"], 2.0, 110), (row["other"], 3.0, 50),
                       (row["ride"], 3.987, 64)], key=lambda m: (m[1], m[0]))
    assert sorted(data.drum_marks, key=lambda m: (m[1], m[0])) == expected
    assert plot.drum_row(36) == 0 and plot.drum_row(35) == 0 and plot.drum_row(24) is None
    # 120 qpm 4/4: 2 s bars, 0.5 s beats, 0.125 s 16ths over [0, 4]
    g = data.grid
    assert g.bars == [0.0, 2.0, 4.0]
    assert g.beats == [0.5, 1.0, 1.5, 2.5, 3.0, 3.5]
    assert len(g.sixteenths) == 24 and g.sixteenths[:3] == [0.125, 0.25, 0.375]
    assert not set(g.sixteenths) & set(g.beats) and not set(g.beats) & set(g.bars)

    # The drawn marks are these: one vertical segment per hit, at its unsnapped time, in its row.
    fig = plot.make_figure(data, "t")
    (ax,) = main_axes(fig)
    marks = [c for c in ax.collections if c.get_array() is not None]
    assert len(marks) == 1
    segments = marks[0].get_segments()
    assert [s[0][0] for s in segments] == [t for _, t, _ in data.drum_marks]
    assert all(s[0][0] == s[1][0] for s in segments)
    assert [round((s[0][1] + s[1][1]) / 2) for s in segments] == [r for r, _, _ in data.drum_marks]
    assert list(marks[0].get_array()) == [v for _, _, v in data.drum_marks]
    assert marks[0].norm.vmin == 1 and marks[0].norm.vmax == 127
    assert [t.get_text() for t in ax.get_yticklabels()] == data.drum_rows
    lo, hi = ax.get_xlim()
    assert -0.1 < lo < 0.0 and 4.0 < hi < 4.1

    path = plot.plot_note_sequence(drums_ns, str(tmp_path / "d.png"))
    assert path == str(tmp_path / "d.png")
    pixels = check_png(path)
    assert abs(pixels.shape[1] - 1000) < 50 and abs(pixels.shape[0] - 400) < 50


def test_drum_grid_without_other_row_and_crop(drums_ns):
    ns = sequence([(p, t, t + 0.01, v, True) for p, t, v in DRUM_HITS if p != 24], total_time=4.0)
    assert "other" not in plot.plot_data(ns).drum_rows
    cropped = plot.plot_data(drums_ns, start=0.5, end=2.0)
    assert [t for _, t, _ in cropped.drum_marks] == [0.51, 1.0, 1.49]
    assert (cropped.start, cropped.end) == (0.5, 2.0)
    assert cropped.grid.bars == [0.0, 2.0]


@pytest.mark.parametrize("qpm,meter,total,bars,n_beats", [
    (90.0, (3, 4), 6.0, [0.0, 2.0, 4.0, 6.0], 6),        # 3 bars of 3/4: 2 s each
    (120.0, (6, 8), 3.0, [0.0, 1.5, 3.0], 10),           # 6/8 at 120 qpm: 1.5 s bars
    (None, None, 3.9, [0.0, 2.0, 4.0], 6),               # defaults 120 qpm 4/4
    (60.0, (4, 4), 4.0, [0.0, 4.0], 3),                  # exactly one bar: no extra bar line
])
def test_bar_and_beat_lines(qpm, meter, total, bars, n_beats):
    ns = sequence([(36, 0.0, 0.1, 80, True)], qpm=qpm, meter=meter, total_time=total)
    grid = plot.plot_data(ns).grid
    assert grid.bars == pytest.approx(bars)
    assert len(grid.beats) == n_beats


def test_piano_roll_rectangles(tmp_path):
    notes = [(60, 0.0, 0.5, 80, False), (64, 0.25, 1.75, 100, False), (48, 1.0, 2.0, 30, False),
             (72, 1.5, 1.6, 127, False)]
    ns = sequence(notes)
    data = plot.plot_data(ns)
    assert data.panels == ["piano"]
    assert data.notes == sorted([(s, e, p, v) for p, s, e, v, _ in notes])
    fig = plot.make_figure(data, "piano")
    (ax,) = main_axes(fig)
    (rects,) = [c for c in ax.collections if c.get_array() is not None]
    drawn = []
    for path in rects.get_paths():
        xs, ys = path.vertices[:, 0], path.vertices[:, 1]
        drawn.append((xs.min(), xs.max(), round(float(ys.mean())), ))
    assert drawn == [(s, e, p) for s, e, p, _ in data.notes]
    assert list(rects.get_array()) == [v for *_, v in data.notes]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["C3", "C4", "C5"]
    assert plot.note_name(60) == "C4" and plot.note_name(61) == "C#4"
    check_png(plot.plot_note_sequence(ns, str(tmp_path / "p.png")))


def test_mixed_sequence_two_panels_sharing_time(tmp_path):
    ns = sequence([(60, 0.0, 1.0, 80, False), (36, 0.5, 0.6, 90, True), (38, 1.0, 1.1, 70, True)])
    data = plot.plot_data(ns)
    assert data.panels == ["piano", "drums"]
    assert [t for _, t, _ in data.drum_marks] == [0.5, 1.0] and len(data.notes) == 1
    fig = plot.make_figure(data, "mixed")
    top, bottom = main_axes(fig)
    assert top.get_position().y0 > bottom.get_position().y0  # piano roll above
    assert top.get_shared_x_axes().joined(top, bottom)
    assert "kick" in [t.get_text() for t in bottom.get_yticklabels()]
    check_png(plot.plot_note_sequence(ns, str(tmp_path / "m.png")))


def test_empty_sequence_says_no_notes(tmp_path):
    ns = sequence([])
    data = plot.plot_data(ns)
    assert data.panels == [] and data.drum_marks == [] and data.notes == []
    fig = plot.make_figure(data, "empty")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts == ["no notes"]
    path = plot.plot_note_sequence(ns, str(tmp_path / "sub" / "e.png"))
    check_png(path)


def test_title_defaults_to_file_name(drums_ns, tmp_path):
    import matplotlib.figure
    titles = []
    real = matplotlib.figure.Figure.savefig

    def spy(fig, *a, **k):
        titles.append(fig.axes[0].get_title())
        return real(fig, *a, **k)
    matplotlib.figure.Figure.savefig = spy
    try:
        plot.plot_note_sequence(drums_ns, str(tmp_path / "beat.png"))
        plot.plot_note_sequence(drums_ns, str(tmp_path / "x.png"), title="sample 1")
    finally:
        matplotlib.figure.Figure.savefig = real
    assert titles == ["beat.png", "sample 1"]


def test_cli_batch_goes_on_after_errors(tmp_path, capsys):
    good = sorted(glob.glob(os.path.join(TEST_DATA, "groove", "**", "*.mid"), recursive=True))[:2]
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not midi at all")
    missing = str(tmp_path / "missing.mid")
    out_dir = tmp_path / "pngs"
    rc = plot.main([good[0], missing, str(bad), good[1], f"--output_dir={out_dir}"])
    assert rc == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert err[0].startswith(f"musicgen.plot: error: {missing}: cannot read file")
    assert err[1].startswith(f"musicgen.plot: error: {bad}: not a MIDI file")
    for name in good:
        check_png(str(out_dir / (os.path.splitext(os.path.basename(name))[0] + ".png")))
    assert sorted(os.listdir(out_dir)) == sorted(
        os.path.splitext(os.path.basename(n))[0] + ".png" for n in good)
    # Beside the input without --output_dir; all good -> 0.
    src = tmp_path / "beat.mid"
    src.write_bytes(open(good[0], "rb").read())
    assert plot.main([str(src)]) == 0
    check_png(str(tmp_path / "beat.png"))


# ---- curves ------------------------------------------------------------------------------------
def write_run_logs(run_dir):
    import tensorflow as tf
    from musicgen.train import write_scalars
    writer = tf.summary.create_file_writer(os.path.join(run_dir, "train"))
    for step in (1, 2, 3):
        write_scalars(writer, step, {"loss": 10.0 - step, "learning_rate": 1e-3 / step,
                                     "kl_bits": 0.5 * step})
    writer.close()
    time.sleep(0.01)
    # A resumed run re-logs step 3 (the last checkpoint was at 2) and goes on: the later value wins.
    writer = tf.summary.create_file_writer(os.path.join(run_dir, "train"))
    for step, loss in ((3, 5.5), (4, 5.0)):
        write_scalars(writer, step, {"loss": loss, "learning_rate": 1e-4, "kl_bits": 2.0})
    writer.close()
    writer = tf.summary.create_file_writer(os.path.join(run_dir, "eval"))
    write_scalars(writer, 4, {"kl_bits": 1.5, "teacher_forced/loss": 6.0, "num_sequences": 3})
    writer.close()


def test_read_scalars_and_plot_curves(tmp_path):
    run_dir = str(tmp_path / "run")
    write_run_logs(run_dir)
    scalars = curves.read_scalars(os.path.join(run_dir, "train"))
    assert set(scalars) == {"loss", "learning_rate", "kl_bits"}
    assert scalars["loss"] == [(1, 9.0), (2, 8.0), (3, 5.5), (4, 5.0)]
    assert [s for s, _ in scalars["learning_rate"]] == [1, 2, 3, 4]
    assert scalars["learning_rate"][0][1] == pytest.approx(1e-3)
    assert curves.read_scalars(str(tmp_path / "nothing")) == {}
    evals = curves.read_scalars(os.path.join(run_dir, "eval"))
    assert curves.eval_overlays("loss", evals) == {"teacher_forced/loss": [(4, 6.0)]}
    assert curves.eval_overlays("kl_bits", evals) == {"kl_bits": [(4, 1.5)]}
    assert curves.eval_overlays("learning_rate", evals) == {}
    assert curves.ordered_tags(scalars) == ["loss", "kl_bits", "learning_rate"]

    path = curves.plot_run_curves(run_dir)
    assert path == os.path.join(run_dir, "curves.png")
    check_png(path)
    other = curves.plot_run_curves(run_dir, str(tmp_path / "out" / "c.png"))
    check_png(other)
    assert curves.run_dir_of(run_dir) == os.path.abspath(run_dir)
    assert curves.run_dir_of(os.path.join(run_dir, "checkpoints", "ckpt-00000004")) == \
        os.path.abspath(run_dir)
    assert curves.run_dir_of(str(tmp_path)) is None


def test_curves_errors(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="no such run directory"):
        curves.plot_run_curves(str(tmp_path / "missing"))
    (tmp_path / "empty" / "train").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no TensorBoard event files"):
        curves.plot_run_curves(str(tmp_path / "empty"))
    assert curves.main([f"--run_dir={tmp_path / 'missing'}"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"musicgen.curves: error: {tmp_path / 'missing'}: no such run directory"]
    # The never-failing wrapper train / evaluate use: one warning line, None.
    assert curves.try_plot_run_curves(str(tmp_path / "empty"), who="musicgen.train") is None
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("musicgen.train: warning: could not write")
    run_dir = str(tmp_path / "run")
    write_run_logs(run_dir)
    assert curves.main([f"--run_dir={run_dir}", f"--output={tmp_path / 'x.png'}"]) == 0
    check_png(str(tmp_path / "x.png"))


def test_train_and_eval_write_curves(tmp_path, groove_ns_dir):  # noqa: F811
    from musicgen import train
    run_dir = str(tmp_path / "run")
    step = train.train(CONFIG, run_dir, num_steps=2, hparams_str=TINY,
                       input_kwargs={"dataset_dir": groove_ns_dir, "seed": 0},
                       log_every=1, progress=False)
    assert step == 2
    check_png(os.path.join(run_dir, "curves.png"))
    assert [s for s, _ in curves.read_scalars(os.path.join(run_dir, "train"))["loss"]] == [1, 2]
    train.evaluate(run_dir, "validation", num_batches=1, batch_size=4, untrained=False,
                   input_kwargs={"dataset_dir": groove_ns_dir})
    check_png(os.path.join(run_dir, "eval", "curves.png"))
    evals = curves.read_scalars(os.path.join(run_dir, "eval"))
    assert curves.eval_overlays("kl_bits", evals)["kl_bits"][0][0] == 2


def test_plot_data_is_numpy_free_floats(drums_ns):
    """Marks hold plain Python numbers (json-able, exact comparisons in callers' tests)."""
    data = plot.plot_data(drums_ns)
    assert all(type(t) is float and type(v) is int for _, t, v in data.drum_marks)
    assert not any(isinstance(t, np.floating) for t in data.grid.bars)
