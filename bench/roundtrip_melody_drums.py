"""Round trip, window counts and speed of OneHotMelodyConverter and DrumsConverter on shared data.

Data: MAESTRO v2.0.0 subset and Nottingham melodies (melody configs), Groove MIDI (drum configs).
For every config and file x:

* window counts: the config as in Magenta's configs.py (max_tensors_per_notesequence as there, eval
  mode) and uncapped (max_tensors_per_notesequence=None: all unique windows);
* round trip: every uncapped window w is decoded with from_tensors and compared with x's quantized
  form (x split on time changes, quantized with note_seq at 4 steps/quarter):
    melody: the monophonic line Magenta extracts (per instrument, allowed programs / pitch range,
      velocity > 0, highest pitch per onset step, each note cut at the next onset), clipped to a
      bar-aligned window;
    drums: the (step, drum class) hits, classes decoded to their exemplar pitch;
  w is exact when its decoded (pitch, start step, end step) notes / (step, pitch) hits equal those
  of some bar-aligned window of x. Melody and drums must be 100% exact.
* speed: to_tensors time per file vs splitting on time changes + note_seq quantize_note_sequence
  of the same file (the first step of every converter), per-file median ratio; from_tensors
  windows/s.
* with --magenta_root DIR (a magenta/magenta checkout, only its music_vae/data.py and
  pipelines/{melody,drum}_pipelines.py are imported; needs TensorFlow): Magenta's converters run
  on the same files; their capped tensors must equal ours in the same order (inputs and outputs),
  and the per-file time ratio ours / Magenta is reported. Any checkout works, e.g.
  `git clone https://github.com/magenta/magenta /tmp/magenta_ref` (nothing of it enters this repo).

Usage: .venv/bin/python bench/roundtrip_melody_drums.py [--limit N] [--magenta_root DIR]
Writes bench/results/roundtrip_melody_drums.json and .md.
"""
import argparse
import bisect
import collections
import glob
import importlib
import json
import os
import statistics
import sys
import time
import types

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import musicgen  # noqa: E402,F401  (quiets note_seq / pydub import warnings)
from note_seq import sequences_lib  # noqa: E402
from note_seq.protobuf import music_pb2  # noqa: E402

from musicgen.converters.drums import (FULL_DRUM_PITCH_CLASSES,  # noqa: E402
                                       REDUCED_DRUM_PITCH_CLASSES, DrumsConverter)
from musicgen.converters.event_list import quantize_or_none  # noqa: E402
from musicgen.converters.melody import MEL_PROGRAMS, OneHotMelodyConverter  # noqa: E402

try:
    from musicgen.midi_io import midi_file_to_note_sequence
    READER = "musicgen.midi_io"
except ImportError:  # the colleague's reader is not there yet
    from note_seq.midi_io import midi_file_to_note_sequence
    READER = "note_seq.midi_io"

SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared", "data"))
SPQ, SPB = 4, 16
SECONDS_PER_STEP = 60.0 / 120.0 / SPQ  # decoded sequences are at 120 qpm
MEL_COMMON = dict(skip_polyphony=False, max_bars=100, steps_per_quarter=SPQ)
CONFIGS = {  # name -> (kind, converter kwargs, datasets); Magenta's configs.py settings
    "cat-mel_2bar": ("melody", dict(valid_programs=MEL_PROGRAMS, slice_bars=2, **MEL_COMMON),
                     ("maestro", "nottingham")),
    "mel_4bar (cat-mel_2bar settings, 4 bars)": (
        "melody", dict(valid_programs=MEL_PROGRAMS, slice_bars=4, **MEL_COMMON),
        ("maestro", "nottingham")),
    "mel_16bar (flat/hier-mel_16bar)": ("melody", dict(slice_bars=16, **MEL_COMMON),
                                        ("maestro", "nottingham")),
    "cat-drums_2bar": ("drums", dict(max_bars=100, slice_bars=2, steps_per_quarter=SPQ,
                                     roll_input=True), ("groove",)),
    "drums_4bar (cat-drums_2bar settings, 4 bars)": (
        "drums", dict(max_bars=100, slice_bars=4, steps_per_quarter=SPQ, roll_input=True),
        ("groove",)),
    "nade-drums_2bar_full (61 classes)": (
        "drums", dict(max_bars=100, pitch_classes=FULL_DRUM_PITCH_CLASSES, slice_bars=2,
                      steps_per_quarter=SPQ, roll_input=True, roll_output=True), ("groove",)),
}
DATASETS = {
    "maestro": "maestro-v2.0.0/*/*.midi",
    "nottingham": "nottingham/MIDI/melody/*.mid",
    "groove": "groove/drummer*/*/*.mid",
}


# ---- data ---------------------------------------------------------------------------------
def read_dataset(pattern, limit):
    paths = sorted(glob.glob(pattern))[:limit]
    seqs, skipped = [], []
    for path in paths:
        try:
            seqs.append((path, midi_file_to_note_sequence(path)))
        except Exception as e:  # noqa: BLE001  (recorded, the bench goes on)
            skipped.append((path, f"{type(e).__name__}: {e}"))
    return seqs, skipped


def quantized_pieces(ns):
    """x's quantized form: time-change pieces quantized at 4 steps/quarter (4/4-sized bars)."""
    pieces = [quantize_or_none(p, SPQ, SPB)
              for p in sequences_lib.split_note_sequence_on_time_changes(ns)]
    return [p for p in pieces if p is not None]


# ---- expected windows from the source ------------------------------------------------------
def melody_lines(qns, kwargs):
    """Per instrument: the monophonic (pitch, start, end) line Magenta's melody extraction sees."""
    programs = kwargs.get("valid_programs")
    by_inst = collections.defaultdict(list)
    for n in qns.notes:
        if n.is_drum or not n.velocity or not 21 <= n.pitch <= 108:
            continue
        if programs is not None and n.program not in programs:
            continue
        by_inst[n.instrument].append((n.quantized_start_step, -n.pitch, n.quantized_end_step))
    lines = []
    for notes in by_inst.values():
        notes.sort()
        onsets = []
        for start, neg_pitch, end in notes:
            if not onsets or onsets[-1][1] != start:  # highest pitch per onset step
                onsets.append((-neg_pitch, start, end))
        lines.append([(p, s, min(e, onsets[k + 1][1]) if k + 1 < len(onsets) else e)
                      for k, (p, s, e) in enumerate(onsets)])
    return lines


def melody_signatures(pieces, kwargs, window):
    sigs = set()
    for qns in pieces:
        for line in melody_lines(qns, kwargs):
            starts = [s for _, s, _ in line]
            last = max((e for _, _, e in line), default=0)
            for off in range(0, last, SPB):  # every bar-aligned window that holds a step
                lo, hi = bisect.bisect_left(starts, off), bisect.bisect_left(starts, off + window)
                sigs.add(tuple((p, s - off, min(e, off + window) - off) for p, s, e in line[lo:hi]))
    return sigs


def drum_signatures(pieces, pitch_classes, window):
    exemplar = {p: c[0] for c in pitch_classes for p in c}
    sigs = set()
    for qns in pieces:
        hits = sorted({(n.quantized_start_step, exemplar[n.pitch]) for n in qns.notes
                       if n.is_drum and n.velocity and n.pitch in exemplar})
        steps = [s for s, _ in hits]
        for off in range(0, (steps[-1] // SPB + 1) * SPB if steps else 0, SPB):
            lo, hi = bisect.bisect_left(steps, off), bisect.bisect_left(steps, off + window)
            sigs.add(frozenset((s - off, p) for s, p in hits[lo:hi]))
    return sigs


def decoded_signature(kind, ns):
    step = lambda t: int(round(t / SECONDS_PER_STEP))  # noqa: E731
    if kind == "melody":
        notes = [(n.pitch, step(n.start_time), step(n.end_time)) for n in ns.notes]
        return tuple(sorted(notes, key=lambda n: n[1]))  # one note per onset step
    return frozenset((step(n.start_time), n.pitch) for n in ns.notes)


# ---- Magenta reference (optional) ------------------------------------------------------------
def load_magenta(root):
    """Import magenta/models/music_vae/data.py without magenta/__init__ (which imports it all)."""
    for name in ("magenta", "magenta.pipelines", "magenta.models", "magenta.models.music_vae"):
        module = types.ModuleType(name)
        module.__path__ = [os.path.join(root, *name.split("."))]
        sys.modules[name] = module
    return importlib.import_module("magenta.models.music_vae.data")


def make_converter(kind, kwargs, module=None, **overrides):
    if module is None:
        cls = OneHotMelodyConverter if kind == "melody" else DrumsConverter
    else:
        cls = module.OneHotMelodyConverter if kind == "melody" else module.DrumsConverter
    conv = cls(**{**kwargs, **overrides})
    conv.set_mode("eval")
    return conv


def same_tensors(ours, theirs):
    if len(ours.outputs) != len(theirs.outputs):
        return False
    return all(np.array_equal(a, b) for a, b in zip(ours.outputs, theirs.outputs)) and \
        all(np.array_equal(a, b) for a, b in zip(ours.inputs, theirs.inputs))


def copy_ns(ns):
    out = music_pb2.NoteSequence()
    out.CopyFrom(ns)
    return out


# ---- one config on one dataset -------------------------------------------------------------
def run(kind, kwargs, seqs, magenta):
    conv = make_converter(kind, kwargs)
    uncapped = make_converter(kind, kwargs, max_tensors_per_notesequence=None)
    ref = make_converter(kind, kwargs, magenta) if magenta else None
    window = kwargs["slice_bars"] * SPB
    r = collections.Counter()
    ratios_q, ratios_m = [], []
    t_ours = t_dec = 0.0
    for _, ns in seqs:
        t0 = time.perf_counter()
        pieces = quantized_pieces(ns)  # the baseline: split + quantize only
        t1 = time.perf_counter()
        r["files_without_4_4_piece"] += not pieces
        capped = conv.to_tensors(ns)
        t2 = time.perf_counter()
        t_ours += t2 - t1
        ratios_q.append((t2 - t1) / max(t1 - t0, 1e-9))
        r["windows"] += len(capped)
        r["files_with_windows"] += bool(len(capped))
        if ref is not None:
            t3 = time.perf_counter()
            theirs = ref.to_tensors(copy_ns(ns))
            ratios_m.append((t2 - t1) / max(time.perf_counter() - t3, 1e-9))
            r["magenta_windows"] += len(theirs.outputs)
            r["magenta_files_differing"] += not same_tensors(capped, theirs)
        tensors = uncapped.to_tensors(ns)
        r["unique_windows"] += len(tensors)
        if not len(tensors):
            continue
        t4 = time.perf_counter()
        decoded = uncapped.from_tensors(tensors.outputs)
        t_dec += time.perf_counter() - t4
        sigs = (melody_signatures(pieces, kwargs, window) if kind == "melody" else
                drum_signatures(pieces, kwargs.get("pitch_classes") or REDUCED_DRUM_PITCH_CLASSES,
                                window))
        for dec in decoded:
            ok = decoded_signature(kind, dec) in sigs
            r["round_trip_exact"] += ok
            r["round_trip_notes"] += len(dec.notes)
            r["round_trip_notes_in_inexact"] += 0 if ok else len(dec.notes)
    out = dict(r)
    out.update(files=len(seqs), files_per_s=len(seqs) / t_ours if t_ours else None,
               windows_per_s=r["windows"] / t_ours if t_ours else None,
               from_tensors_windows_per_s=r["unique_windows"] / t_dec if t_dec else None,
               median_ratio_vs_quantize=statistics.median(ratios_q) if ratios_q else None,
               median_ratio_vs_magenta=statistics.median(ratios_m) if ratios_m else None)
    return out


# ---- report ----------------------------------------------------------------------------------
def fmt(v, nd=1):
    return "-" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def write_reports(results, meta, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    lines = ["# OneHotMelodyConverter / DrumsConverter: round trip, window counts, speed", "",
             f"Command: `{meta['command']}` (MIDI read with {meta['reader']}; files: "
             + ", ".join(f"{k} {v['files']} ({v['skipped']} unreadable)"
                         for k, v in meta["datasets"].items()) + ").", "",
             "Window counts: 'config' = Magenta's converter settings incl. "
             "max_tensors_per_notesequence (5) in eval mode; 'unique' = uncapped.",
             "Round trip: decoded windows equal to a bar-aligned window of the source's quantized "
             "form (see the script's docstring).",
             "Speed: one pass, 2 shared CPU cores; ratios are per-file medians in one process "
             "(to_tensors time / split+quantize time; ours / Magenta's to_tensors time).", ""]
    has_magenta = meta["magenta_root"] is not None
    head = ["config", "dataset", "files with windows", "files skipped (no 4/4-sized piece)",
            "windows (config)", "unique windows",
            "round trip exact", "notes in inexact windows", "files/s", "windows/s",
            "from_tensors windows/s", "x quantize"]
    if has_magenta:
        head += ["Magenta windows", "files differing from Magenta", "time ours/Magenta"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (name, dataset), r in results.items():
        row = [name, dataset, f"{r['files_with_windows']}/{r['files']}",
               r.get("files_without_4_4_piece", 0), r["windows"],
               r["unique_windows"],
               f"{r.get('round_trip_exact', 0)}/{r['unique_windows']}",
               r.get("round_trip_notes_in_inexact", 0), fmt(r["files_per_s"]),
               fmt(r["windows_per_s"]), fmt(r["from_tensors_windows_per_s"]),
               fmt(r["median_ratio_vs_quantize"], 2)]
        if has_magenta:
            row += [r.get("magenta_windows", 0), r.get("magenta_files_differing", 0),
                    fmt(r["median_ratio_vs_magenta"], 2)]
        lines.append("| " + " | ".join(str(c) for c in row) + " |")
    with open(os.path.join(out_dir, "roundtrip_melody_drums.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data_dir", default=SHARED)
    ap.add_argument("--limit", type=int, default=None, help="files per dataset (default all)")
    ap.add_argument("--magenta_root", default=None,
                    help="magenta/magenta checkout to compare with (optional)")
    ap.add_argument("--configs", default=None, help="comma-separated subset of config names")
    ap.add_argument("--out_dir", default=os.path.join(ROOT, "bench", "results"))
    args = ap.parse_args(argv)
    magenta = load_magenta(args.magenta_root) if args.magenta_root else None
    data, meta_ds = {}, {}
    for name, pattern in DATASETS.items():
        seqs, skipped = read_dataset(os.path.join(args.data_dir, pattern), args.limit)
        data[name] = seqs
        meta_ds[name] = {"files": len(seqs), "skipped": len(skipped), "skips": skipped}
    wanted = args.configs.split(",") if args.configs else list(CONFIGS)
    results = {}
    for name in wanted:
        kind, kwargs, datasets = CONFIGS[name]
        for dataset in datasets:
            t0 = time.time()
            results[(name, dataset)] = run(kind, kwargs, data[dataset], magenta)
            print(f"{name} / {dataset}: {results[(name, dataset)]} ({time.time() - t0:.0f} s)",
                  flush=True)
    meta = {"command": "bench/roundtrip_melody_drums.py " + " ".join(argv or sys.argv[1:]),
            "reader": READER, "datasets": meta_ds, "magenta_root": args.magenta_root}
    json_results = {f"{n} / {d}": r for (n, d), r in results.items()}
    report = write_reports(results, meta, args.out_dir)
    print(report)
    with open(os.path.join(args.out_dir, "roundtrip_melody_drums.json"), "w") as f:
        json.dump({"meta": meta, "results": json_results}, f, indent=1)


if __name__ == "__main__":
    main()
