"""RemiConverter: token stream, vocabulary save/load, chord matcher, round trips, windows."""
import glob
import json
import os

import numpy as np
import pytest
from note_seq import testing_lib
from note_seq.protobuf import music_pb2

from conftest import SHARED_DATA
from musicgen.converters import remi_chords
from musicgen.converters.base import np_onehot
from musicgen.converters.remi import RemiConverter, RemiVocabulary, tempo_tokens

TEMPO_120 = ["TempoClass_mid", "TempoValue_30"]


def make_ns(notes, qpm=120.0):
    ns = music_pb2.NoteSequence(ticks_per_quarter=220)
    ns.tempos.add(qpm=qpm)
    testing_lib.add_track_to_sequence(ns, 0, notes)
    return ns


def tokens_of(conv, ns):
    return [conv.vocabulary.decode(np.argmax(w, 1)) for w in conv.to_tensors(ns).outputs]


def note_tuples(ns):
    return sorted((n.pitch, n.velocity, round(n.start_time, 6), round(n.end_time, 6))
                  for n in ns.notes)


def chord(notes, start=0, end=4):
    return remi_chords.chord_name(remi_chords.match_chord(
        remi_chords.pitch_class_weights(notes, start, end)))


def test_vocabulary_sizes():
    assert len(RemiConverter().vocabulary) == 1 + 16 + 3 + 60 + 61 + 32 + 128 + 64 == 365
    assert RemiConverter(use_chords=False).output_depth == 304
    assert RemiConverter(min_pitch=21, max_pitch=108).output_depth == 325
    conv = RemiConverter(add_end_token=True)
    assert conv.output_depth == 366 and conv.vocabulary.tokens[conv.end_token] == "EOS"


def test_vocabulary_save_load_round_trip(tmp_path):
    vocab = RemiConverter(min_pitch=21, max_pitch=108, add_end_token=True).vocabulary
    path = tmp_path / "remi_vocab.json"
    vocab.save(str(path))
    loaded = RemiVocabulary.load(str(path))
    assert loaded == vocab and len(loaded) == 326
    assert loaded.config["min_pitch"] == 21 and loaded.tokens[0] == "Bar"
    assert loaded.encode(["Pitch_21", "Duration_64", "EOS"]) == vocab.encode(
        ["Pitch_21", "Duration_64", "EOS"])
    assert json.loads(path.read_text())["format"] == "musicgen.remi_vocabulary/1"
    bad = tmp_path / "bad.json"
    bad.write_text('{"tokens": []}')
    with pytest.raises(ValueError, match="bad.json"):
        RemiVocabulary.load(str(bad))
    with pytest.raises(ValueError, match="Pitch_5"):
        loaded.encode(["Pitch_5"])


@pytest.mark.parametrize("qpm,expected", [
    (120, TEMPO_120), (30, ["TempoClass_slow", "TempoValue_0"]),
    (89.6, ["TempoClass_mid", "TempoValue_0"]), (209, ["TempoClass_fast", "TempoValue_59"]),
    (250, ["TempoClass_fast", "TempoValue_59"]), (10, ["TempoClass_slow", "TempoValue_0"]),
])
def test_tempo_class_and_value(qpm, expected):
    assert tempo_tokens(qpm) == expected


@pytest.mark.parametrize("notes,expected", [
    ([(60, 0, 4), (64, 0, 4), (67, 0, 4)], "C:maj"),
    ([(52, 0, 4), (55, 0, 4), (60, 0, 4)], "C:maj"),           # first inversion
    ([(57, 0, 4), (60, 0, 4), (64, 0, 4)], "A:min"),
    ([(59, 0, 4), (62, 0, 4), (65, 0, 4)], "B:dim"),
    ([(48, 0, 4), (64, 0, 4), (68, 0, 4)], "C:aug"),           # symmetric: bass decides
    ([(52, 0, 4), (60, 0, 4), (68, 0, 4)], "E:aug"),
    ([(55, 0, 4), (59, 0, 4), (62, 0, 4), (65, 0, 4)], "G:dom7"),
    ([(55, 0, 4), (59, 0, 4), (65, 0, 4)], "G:dom7"),          # no fifth
    ([(66, 0, 4), (70, 0, 4), (73, 0, 4)], "F#:maj"),
    ([(60, 0, 4), (64, 0, 4), (67, 0, 4), (62, 1, 2)], "C:maj"),  # short passing tone
    ([(57, 0, 4), (60, 0, 4), (64, 0, 4), (67, 0, 4)], "A:min"),  # Am7: bass A
    ([], "N.C."),
    ([(60, 0, 4)], "N.C."),                                     # a lone note
    ([(60, 0, 4), (61, 0, 4), (62, 0, 4), (63, 0, 4)], "N.C."),  # cluster
    ([(60, 4, 8), (64, 4, 8), (67, 4, 8)], "N.C."),             # outside the segment
])
def test_chord_matcher_on_known_chords(notes, expected):
    assert chord(notes) == expected


def test_chord_names_and_symbols():
    names = remi_chords.chord_names()
    assert len(names) == 61 and names[0] == "C:maj" and names[-1] == "N.C."
    symbols = [remi_chords.chord_symbol(remi_chords.parse_chord_name(n))
               for n in ("C:maj", "F#:min", "B:dim", "C:aug", "G:dom7", "N.C.")]
    assert symbols == ["C", "F#m", "Bdim", "Caug", "G7", "N.C."]


SMALL = [(60, 100, 0.0, 2.0), (64, 90, 0.0, 2.0), (67, 80, 0.0, 2.0),
         (62, 60, 2.0, 4.0), (65, 60, 2.0, 4.0), (67, 127, 2.0, 2.25), (71, 127, 2.25, 3.0)]


def test_token_stream_of_a_small_piece():
    (tokens,) = tokens_of(RemiConverter(), make_ns(SMALL))
    assert tokens == [
        "Bar", *TEMPO_120, "Position_0", "Chord_C:maj",
        "Velocity_25", "Pitch_60", "Duration_16", "Velocity_23", "Pitch_64", "Duration_16",
        "Velocity_20", "Pitch_67", "Duration_16",
        "Bar", "Position_0", "Chord_G:dom7",
        "Velocity_15", "Pitch_62", "Duration_16", "Velocity_15", "Pitch_65", "Duration_16",
        "Velocity_32", "Pitch_67", "Duration_2",
        "Position_2", "Velocity_32", "Pitch_71", "Duration_6",
        "Position_8", "Chord_D:min"]
    (no_chords,) = tokens_of(RemiConverter(use_chords=False), make_ns(SMALL))
    assert not any(t.startswith("Chord_") for t in no_chords) and len(no_chords) == 28


def test_decoded_chords_become_chord_symbol_annotations():
    conv = RemiConverter()
    (decoded,) = conv.from_tensors(conv.to_tensors(make_ns(SMALL)).outputs)
    assert [(a.time, a.text) for a in decoded.text_annotations] == [
        (0.0, "C"), (2.0, "G7"), (3.0, "Dm")]
    assert decoded.tempos[0].qpm == 120 and decoded.time_signatures[0].numerator == 4


def grid_form(notes, qpm, max_steps=64, spq=4, decoded_qpm=None):
    """Notes snapped to the 16th grid at `qpm`, durations clipped, re-timed at decoded_qpm."""
    sps = qpm * spq / 60.0
    step_sec = 60.0 / ((decoded_qpm or qpm) * spq)
    out = []
    for pitch, vel, start, end in notes:
        s, e = round(start * sps), round(end * sps)
        d = int(np.clip(e - s, 1, max_steps))
        out.append((pitch, 1 + (vel - 1) // 4 * 4, round(s * step_sec, 6), round((s + d) * step_sec, 6)))
    return sorted(out)


def random_notes(rng, n=80, seconds=30.0):
    notes, busy = [], {}
    for _ in range(n):
        start = float(rng.uniform(0, seconds))
        pitch = int(rng.integers(30, 100))
        end = start + float(rng.choice([0.05, 0.3, 1.1, 9.5]))  # 9.5 s > 64 sixteenths at 120
        if any(s - 0.2 < end and start < e + 0.2 for s, e in busy.get(pitch, [])):
            continue
        busy.setdefault(pitch, []).append((start, end))
        notes.append((pitch, int(rng.integers(1, 128)), start, end))
    return notes


@pytest.mark.parametrize("qpm", [120.0, 100.4])
def test_round_trip_equals_grid_quantized_input(qpm):
    notes = random_notes(np.random.default_rng(7))
    conv = RemiConverter()
    (decoded,) = conv.from_tensors(conv.to_tensors(make_ns(notes, qpm)).outputs)
    assert len(notes) > 50
    # The decoded tempo is the integer tempo token: 100.4 -> 100.
    assert decoded.tempos[0].qpm == round(qpm)
    assert note_tuples(decoded) == grid_form(notes, qpm, decoded_qpm=round(qpm))


def test_windows_are_whole_bars_and_decode_back_to_the_piece():
    notes = random_notes(np.random.default_rng(11), n=120, seconds=40.0)
    full = RemiConverter()
    (whole,) = full.from_tensors(full.to_tensors(make_ns(notes)).outputs)
    conv = RemiConverter(max_tokens=64)
    windows = tokens_of(conv, make_ns(notes))
    assert len(windows) > 5
    assert all(len(w) <= 64 and w[:3] == ["Bar", *TEMPO_120] for w in windows)
    merged, bars_before = [], 0
    for w in windows:
        (piece,) = conv.from_tensors([np.array(conv.vocabulary.encode(w))])
        offset = bars_before * 2.0  # one 4/4 bar at 120 qpm
        merged += [(p, v, round(s + offset, 6), round(e + offset, 6)) for p, v, s, e in note_tuples(piece)]
        bars_before += w.count("Bar")
    assert sorted(merged) == note_tuples(whole)
    # Each window restates the sounding chord at its start.
    assert all(w[3] == "Position_0" and w[4].startswith("Chord_") for w in windows)


def test_truncate_cap_and_oversized_bar_cut():
    notes = [(60 + i, 80, 0.0, 0.5) for i in range(5)] + [(60, 80, 2.0, 2.5)]
    conv = RemiConverter(max_tokens=12)
    (first,) = tokens_of(RemiConverter(max_tokens=12, truncate=True), make_ns(notes))
    windows = tokens_of(conv, make_ns(notes))
    assert windows[0] == first and len(windows) == 2
    assert first == ["Bar", *TEMPO_120, "Position_0", "Chord_N.C.",
                     "Velocity_20", "Pitch_60", "Duration_4", "Velocity_20", "Pitch_61", "Duration_4"]
    capped = RemiConverter(max_tokens=12, max_tensors_per_notesequence=1).to_tensors(make_ns(notes))
    assert len(capped) == 1


def test_end_token_and_decoder_robustness():
    conv = RemiConverter(add_end_token=True, max_tokens=40)
    windows = tokens_of(conv, make_ns(SMALL))
    assert [w.count("EOS") for w in windows] == [0] * (len(windows) - 1) + [1]
    assert windows[-1][-1] == "EOS"
    vocab = conv.vocabulary
    # Tokens before the first Bar belong to bar 0; a Duration without a Pitch and a Pitch
    # without a Duration are skipped; everything after EOS is ignored.
    tokens = ["Position_4", "Duration_3", "Pitch_60", "Pitch_62", "Duration_4",
              "Bar", "Position_8", "Velocity_32", "Pitch_65", "Duration_2",
              "Bar", "TempoClass_slow", "TempoValue_30", "Position_0", "Velocity_32",
              "Pitch_64", "Duration_4", "EOS", "Bar", "Position_0", "Pitch_70", "Duration_1"]
    sample = np_onehot(vocab.encode(tokens), conv.output_depth).astype(np.float32)
    (decoded,) = conv.from_tensors([np.concatenate([sample, np.zeros((3, conv.output_depth))])])
    # bar 0 at 120 qpm (2 s), then 60 qpm: a 16th lasts 0.25 s.
    assert note_tuples(decoded) == [(62, 100, 0.5, 1.0), (64, 125, 2.0, 3.0), (65, 125, 1.0, 1.25)]
    assert [(t.time, t.qpm) for t in decoded.tempos] == [(0.0, 120.0), (2.0, 60.0)]


def test_tempo_change_splits_the_piece():
    ns = make_ns([(60, 80, 0.0, 1.0), (62, 80, 4.0, 5.0)])
    ns.tempos.add(time=2.0, qpm=60.0)
    windows = tokens_of(RemiConverter(), ns)
    assert len(windows) == 2
    assert windows[0][1:3] == TEMPO_120 and windows[1][1:3] == ["TempoClass_slow", "TempoValue_30"]


def test_sustain_pedal_extends_notes():
    ns = make_ns([(60, 80, 0.0, 0.5)])
    ns.control_changes.add(time=0.1, control_number=64, control_value=127)
    ns.control_changes.add(time=1.0, control_number=64, control_value=0)
    (tokens,) = tokens_of(RemiConverter(), ns)
    assert "Duration_8" in tokens
    (tokens,) = tokens_of(RemiConverter(apply_sustain=False), ns)
    assert "Duration_4" in tokens


def test_augmentation_only_in_train_mode():
    ns = make_ns([(60, 80, 0.0, 1.0), (64, 80, 1.0, 2.0), (126, 80, 2.0, 3.0)])
    conv = RemiConverter()
    base = tokens_of(conv, ns)
    assert tokens_of(conv, ns) == base
    conv.set_mode("train")
    conv.seed(1)
    shifts, tempos = set(), set()
    for _ in range(25):
        (tokens,) = tokens_of(conv, ns)
        pitches = [int(t[6:]) for t in tokens if t.startswith("Pitch_")]
        shift = pitches[0] - 60
        assert pitches == [60 + shift, 64 + shift, 126 + shift] and -3 <= shift <= 1
        shifts.add(shift)
        tempos.add(tokens[2])
    # Stretching by 0.95..1.05 changes the tempo: 120 / f -> 114..126 qpm.
    assert len(shifts) >= 3 and len(tempos) >= 3
    assert tempos <= {f"TempoValue_{round(120 / f) - 90}" for f in (0.95, 0.975, 1.0, 1.025, 1.05)}


def test_segment_profiles_equal_per_segment_weights():
    notes = [(60, 0, 20), (64, 3, 9), (67, 8, 17), (71, 15, 16), (48, 30, 31)]
    profiles = remi_chords.segment_profiles(notes, 0, 8, 4)
    for k, (weights, bass) in enumerate(profiles):
        ref_weights, ref_bass = remi_chords.pitch_class_weights(notes, 8 * k, 8 * k + 8)
        assert weights.tolist() == ref_weights.tolist() and bass == ref_bass
    assert profiles[0][0][0] == 8 and profiles[0][0][4] == 5 and profiles[1][0][7] == 8
    assert profiles[3][1] == 0 and profiles[3][0].sum() == 1  # only the C3 in 24..31


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="min_pitch"):
        RemiConverter(min_pitch=100, max_pitch=20)
    with pytest.raises(ValueError, match="max_tokens"):
        RemiConverter(max_tokens=4)


def test_time_signatures_are_ignored_and_tempo_changes_need_presplit():
    ns = make_ns([(60, 80, 0.0, 1.0), (62, 80, 2.5, 3.0)])
    ns.time_signatures.add(time=0.0, numerator=3, denominator=4)
    ns.time_signatures.add(time=1.5, numerator=7, denominator=8)
    conv = RemiConverter(presplit_on_time_changes=False)
    (tokens,) = tokens_of(conv, ns)
    assert tokens.count("Bar") == 2 and "Position_4" in tokens  # 2.5 s = bar 1, step 4
    ns.tempos.add(time=2.0, qpm=90.0)
    with pytest.raises(ValueError, match="one tempo per piece"):
        conv.to_tensors(ns)


MAESTRO = os.path.join(SHARED_DATA, "maestro-v2.0.0")


@pytest.mark.shared
@pytest.mark.skipif(not os.path.isdir(MAESTRO), reason="needs ../shared/data/maestro-v2.0.0")
def test_maestro_excerpt_round_trip():
    from note_seq import sequences_lib

    from musicgen.midi_io import midi_file_to_note_sequence
    path = sorted(glob.glob(os.path.join(MAESTRO, "2004", "*.midi")))[0]
    ns = sequences_lib.extract_subsequence(midi_file_to_note_sequence(path), 0.0, 30.0)
    conv = RemiConverter(min_pitch=21, max_pitch=108)
    prepared = conv.prepare(ns)
    qpm = prepared.tempos[0].qpm
    (decoded,) = conv.from_tensors(conv.to_tensors(ns).outputs)
    expected = grid_form([(n.pitch, n.velocity, n.start_time, n.end_time) for n in prepared.notes],
                         qpm, decoded_qpm=round(qpm))
    assert len(expected) > 50 and note_tuples(decoded) == expected
    windows = RemiConverter(min_pitch=21, max_pitch=108, max_tokens=128).to_tensors(ns)
    assert len(windows) >= 2 and max(windows.lengths) <= 128
