"""Round trip of GrooveConverter over the Groove MIDI Dataset (all files in info.csv).

For every file x: to_tensors(x) -> windows; from_tensors(window, qpm=x's tempo) -> notes, which
are compared with x's quantized form (the loudest note per 16th step and drum class, with its
original onset): timing error in ms, exact velocity, pitch = first pitch of the class.
Also, in the same process:
  * a literal loop-based reference of Magenta's algorithm (step hash, python `max` per cell)
    gives the full-length output tensors; they must equal GrooveConverter's -> parity + the
    speed baseline (examples/s ratio);
  * window counts and examples/s for the groovae_4bar / groovae_2bar_* converter settings of
    Magenta's configs.py, plus split_bars=4, hop_size=16 (the 4-bar, 1-bar-hop windows of the
    TFDS groove/4bar-midionly set Magenta trained groovae_4bar on).

Usage: .venv/bin/python bench/roundtrip_groove.py [--groove_dir DIR] [--limit N]
Writes bench/results/roundtrip_groove.json and .md.
"""
import argparse
import collections
import csv
import json
import os
import statistics
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from note_seq import sequences_lib  # noqa: E402

from musicgen.converters.groove import (REDUCED_DRUM_PITCH_CLASSES,  # noqa: E402
                                        ROLAND_DRUM_PITCH_CLASSES, GrooveConverter,
                                        classes_to_map)

try:
    from musicgen.midi_io import midi_file_to_note_sequence
    READER = "musicgen.midi_io"
except ImportError:
    from note_seq.midi_io import midi_file_to_note_sequence
    READER = "note_seq.midi_io"

CLASSES = dict(pitch_classes=ROLAND_DRUM_PITCH_CLASSES,
               inference_pitch_classes=REDUCED_DRUM_PITCH_CLASSES)
COMMON = dict(steps_per_quarter=4, quarters_per_bar=4, max_tensors_per_notesequence=20, **CLASSES)
CONFIGS = {  # converter settings of Magenta's music_vae/configs.py
    "groovae_4bar": dict(split_bars=4, **COMMON),
    "groovae_2bar_humanize": dict(split_bars=2, humanize=True, **COMMON),
    "groovae_2bar_tap_fixed_velocity": dict(split_bars=2, tapify=True, fixed_velocities=True,
                                            **COMMON),
    "groovae_2bar_tap_fixed_velocity_note_dropout": dict(
        split_bars=2, tapify=True, fixed_velocities=True, max_note_dropout_probability=0.8,
        **COMMON),
    "groovae_2bar_add_closed_hh": dict(split_bars=2, add_instruments=[2], **COMMON),
    "groovae_2bar_hits_control_tfds": dict(split_bars=2, hits_as_controls=True, **COMMON),
    "4bar_hop16 (TFDS-like windows)": dict(split_bars=4, hop_size=16, **COMMON),
}
ROUND_TRIP = ("groovae_4bar", "groovae_2bar_humanize")
STEPS_PER_BAR = 16


def reference_outputs(ns, classes=ROLAND_DRUM_PITCH_CLASSES):
    """Full-length (steps, 27) outputs by the literal per-step / per-drum loop, or None."""
    class_map = classes_to_map(classes)
    try:
        q = sequences_lib.quantize_note_sequence(ns, 4)
    except Exception:  # noqa: BLE001 - the converter gives no tensors for these either
        return None
    if sequences_lib.steps_per_bar_in_quantized_sequence(q) != STEPS_PER_BAR or not q.notes:
        return None
    step_length = 60.0 / q.tempos[0].qpm / 4
    table = collections.defaultdict(lambda: collections.defaultdict(list))
    for note in q.notes:
        table[note.quantized_start_step][class_map[note.pitch]].append(note)
    last = max(n.quantized_start_step for n in q.notes)
    steps = STEPS_PER_BAR * int(np.ceil((last + 1) / STEPS_PER_BAR))
    d = len(classes)
    out = np.zeros((steps, 3 * d))
    for step in range(steps):
        for drum in range(d):
            notes = table[step][drum]
            if not notes:
                continue
            note = max(notes, key=lambda n: n.velocity)
            out[step, drum] = 1.0
            out[step, d + drum] = note.velocity / 127.0
            out[step, 2 * d + drum] = (step_length * step - note.start_time) / step_length * 2
    return out.astype(np.float32)


def expected_cells(ns, class_map):
    """{(step, class): (velocity, onset)} of x's quantized form, plus the number of notes."""
    q = sequences_lib.quantize_note_sequence(ns, 4)
    cells = {}
    for note in q.notes:
        key = (note.quantized_start_step, class_map[note.pitch])
        if key not in cells or note.velocity > cells[key][0]:
            cells[key] = (note.velocity, note.start_time)
    return cells, len(q.notes)


def round_trip(conv, ns, tensors, window_steps, hop_steps, stats):
    """Decode each window at x's tempo and compare with x's quantized form."""
    qpm = ns.tempos[0].qpm if ns.tempos else 120.0
    step_length = 60.0 / qpm / 4
    cells, n_notes = expected_cells(ns, conv.pitch_class_map)
    covered = set()
    for k, seq in enumerate(conv.from_tensors(tensors.outputs, qpm=qpm)):
        first = k * hop_steps
        expected = {key: v for key, v in cells.items() if first <= key[0] < first + window_steps}
        covered.update(expected)
        # from_tensors emits notes step by step, class by class: pair them with the hits.
        hits = np.argwhere(tensors.outputs[k][:, :conv.output_depth // 3] > 0.5)
        assert len(hits) == len(seq.notes)
        decoded = {(first + int(s), int(d)): note for (s, d), note in zip(hits, seq.notes)}
        stats["missing_or_extra"] += len(set(decoded) ^ set(expected))
        for key in set(decoded) & set(expected):
            note, (velocity, onset) = decoded[key], expected[key]
            stats["timing_ms"].append(abs(note.start_time + first * step_length - onset) * 1e3)
            stats["velocity_mismatches"] += int(note.velocity != velocity)
            stats["pitch_mismatches"] += int(note.pitch != conv.pitch_classes[key[1]][0])
    stats["notes"] += n_notes
    stats["cells"] += len(cells)
    stats["cells_in_windows"] += len(covered)


def read_all(groove_dir, limit):
    with open(os.path.join(groove_dir, "info.csv")) as f:
        rows = list(csv.DictReader(f))[:limit]
    seqs, skipped = [], []
    t0 = time.perf_counter()
    for row in rows:
        path = os.path.join(groove_dir, row["midi_filename"])
        try:
            seqs.append((row, midi_file_to_note_sequence(path)))
        except Exception as e:  # noqa: BLE001 - record every skip, keep going
            skipped.append((path, f"{type(e).__name__}: {e}"))
    return seqs, skipped, time.perf_counter() - t0


def timed_to_tensors(conv, seqs, repeats=1):
    """to_tensors over all sequences; seconds = median of `repeats` passes (the CPU is shared)."""
    times = []
    for _ in range(repeats):
        results, errors = [], []
        t0 = time.perf_counter()
        for row, ns in seqs:
            try:
                results.append(conv.to_tensors(ns))
            except ValueError as e:
                results.append(None)
                errors.append((row["midi_filename"], str(e)))
        times.append(time.perf_counter() - t0)
    return results, errors, statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groove_dir", default=os.path.join(ROOT, "..", "shared", "data", "groove"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=3, help="timed passes per converter (median)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "roundtrip_groove"))
    args = ap.parse_args(argv)

    seqs, read_skips, read_s = read_all(args.groove_dir, args.limit)
    report = {"reader": READER, "repeats": args.repeats, "files": len(seqs) + len(read_skips),
              "read_skips": read_skips, "read_seconds": round(read_s, 2), "configs": {}}
    n_files = len(seqs)

    # Parity + speed baseline: literal loop reference vs GrooveConverter (whole sequences).
    full = GrooveConverter(split_bars=None, **COMMON)
    t0 = time.perf_counter()
    ref = [reference_outputs(ns) for _, ns in seqs]
    ref_s = time.perf_counter() - t0
    ours, errors, ours_s = timed_to_tensors(full, seqs, args.repeats)
    mismatched, max_diff = [], 0.0
    for (row, _), r, o in zip(seqs, ref, ours):
        o = o.outputs[0] if o is not None and len(o) else None
        if (r is None) != (o is None) or (r is not None and r.shape != o.shape):
            mismatched.append(row["midi_filename"])
        elif r is not None:
            max_diff = max(max_diff, float(np.abs(r - o).max()))
    report["parity_vs_loop_reference"] = {
        "files_with_tensors": sum(r is not None for r in ref), "shape_or_presence_mismatches":
        mismatched, "max_abs_diff": max_diff, "reference_files_per_s": round(n_files / ref_s, 1),
        "converter_files_per_s": round(n_files / ours_s, 1),
        "speedup": round(ref_s / ours_s, 2), "errors": errors}

    for name, kwargs in CONFIGS.items():
        conv = GrooveConverter(**kwargs)
        conv.seed(0)
        tensors, errors, conv_s = timed_to_tensors(conv, seqs, args.repeats)
        counts = [len(t) if t is not None else 0 for t in tensors]
        windows = sum(counts)
        entry = {"kwargs": {k: v for k, v in kwargs.items() if "classes" not in k},
                 "windows": windows, "files_with_windows": sum(c > 0 for c in counts),
                 "files_without_windows": sum(c == 0 for c in counts),
                 "files_over_20_windows": sum(c > 20 for c in counts),
                 "max_windows_per_file": max(counts, default=0),
                 "to_tensors_files_per_s": round(n_files / conv_s, 1),
                 "to_tensors_windows_per_s": round(windows / conv_s, 1),
                 "window_shape": list(next((t.outputs[0].shape for t in tensors if t), ())),
                 "control_depth": conv.control_depth, "errors": errors}
        split = collections.Counter(row["split"] for (row, _), c in zip(seqs, counts)
                                    for _ in range(c))
        entry["windows_by_split"] = dict(split)
        if name in ROUND_TRIP:
            stats = collections.Counter()
            stats["timing_ms"] = []
            window = STEPS_PER_BAR * kwargs["split_bars"]
            t0 = time.perf_counter()
            for (row, ns), t in zip(seqs, tensors):
                if t:
                    round_trip(conv, ns, t, window, kwargs.get("hop_size") or window, stats)
            rt_s = time.perf_counter() - t0
            timing = stats.pop("timing_ms")
            entry["round_trip"] = {
                **dict(stats), "decoded_notes_compared": len(timing),
                "max_timing_error_ms": max(timing, default=0.0),
                "median_timing_error_ms": statistics.median(timing) if timing else 0.0,
                "round_trip_seconds": round(rt_s, 2)}
        report["configs"][name] = entry
        print(name, json.dumps({k: v for k, v in entry.items() if k != "errors"}), flush=True)

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump(report, f, indent=1)
    with open(args.out + ".md", "w") as f:
        f.write(markdown(report))
    print(markdown(report))


def markdown(report):
    p = report["parity_vs_loop_reference"]
    lines = [
        "# GrooveConverter round trip on the Groove MIDI Dataset",
        "",
        f"Command: `.venv/bin/python bench/roundtrip_groove.py` ({report['files']} files read with "
        f"{report['reader']} in {report['read_seconds']} s, {len(report['read_skips'])} "
        "unreadable).",
        "",
        f"Parity with a literal loop-based port of Magenta's algorithm (whole sequences): "
        f"{p['files_with_tensors']} files with tensors, "
        f"{len(p['shape_or_presence_mismatches'])} shape/presence mismatches, max |diff| "
        f"{p['max_abs_diff']:.3g}; {p['converter_files_per_s']} vs "
        f"{p['reference_files_per_s']} files/s (x{p['speedup']}).",
        "",
        f"Speeds: median of {report['repeats']} passes, one process, 2 shared CPU cores "
        "(noisy; compare ratios within one run).",
        "",
        "| config | windows | files with / without | >20 windows | files/s | windows/s |",
        "|---|---|---|---|---|---|",
    ]
    for name, e in report["configs"].items():
        lines.append(f"| {name} | {e['windows']} | {e['files_with_windows']} / "
                     f"{e['files_without_windows']} | {e['files_over_20_windows']} | "
                     f"{e['to_tensors_files_per_s']} | {e['to_tensors_windows_per_s']} |")
    lines += ["", "| round trip | notes | (step, class) cells | cells in windows | compared | "
              "max ms | median ms | velocity mismatches | pitch mismatches | missing/extra |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for name, e in report["configs"].items():
        r = e.get("round_trip")
        if r:
            lines.append(
                f"| {name} | {r['notes']} | {r['cells']} | {r['cells_in_windows']} | "
                f"{r['decoded_notes_compared']} | {r['max_timing_error_ms']:.2e} | "
                f"{r['median_timing_error_ms']:.2e} | {r['velocity_mismatches']} | "
                f"{r['pitch_mismatches']} | {r['missing_or_extra']} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
