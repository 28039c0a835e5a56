"""Equality and speed of musicgen.midi_io against note_seq.midi_io, per corpus.

Corpora (default: all of ../shared/data: Groove, MAESTRO, the three Nottingham folders; or
`--corpus NAME=GLOB`, repeated, for any folder). For every file this parses the file
with both readers in the same process (file read included, as in the pipeline; per dataset
one pass of ours over all files, then one pass of note_seq; Groove times are the fastest of
3 runs, MAESTRO of 1), compares the NoteSequences
field by field (times within --tol seconds) and records both parse times per file.

Two equalities are reported: exact (every field, note order included) and "multiset" (the notes
of each instrument equal as multisets, every other field equal; tests/test_note_order.py shows
every converter's tensors are invariant to note order). Per corpus: files, mismatches under
each, files taking the note_seq fallback (rate, by reason), median per-file and total speed-up.
Prints the figures and writes bench/results/midi_equality.json.

    .venv/bin/python bench/midi_equality.py [--data ../shared/data] [--limit N]
    .venv/bin/python bench/midi_equality.py --corpus mine=/path/to/midi/**/*.mid
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
warnings.filterwarnings("ignore")

from note_seq import midi_io as ns_midi_io  # noqa: E402

from musicgen import midi_io  # noqa: E402
from musicgen.converters.base import with_notes  # noqa: E402

# corpus: (glob under --data, timing repeats per file and reader; MAESTRO takes note_seq ~0.4 s)
DATASETS = {"groove": ("groove/**/*.mid", 3), "maestro-v2.0.0": ("maestro-v2.0.0/**/*.midi", 1),
            "nottingham": ("nottingham/MIDI/*.mid", 1),
            "nottingham-melody": ("nottingham/MIDI/melody/*.mid", 1),
            "nottingham-chords": ("nottingham/MIDI/chords/*.mid", 1)}


# a one-note file, read once before timing (see first_call_s)
_WARMUP = (b"MThd\0\0\0\x06\0\0\0\x01\0\x60MTrk\0\0\0\x0c"
           b"\x00\x90\x3c\x50\x60\x80\x3c\x40\x00\xff\x2f\x00")


def _sorted_notes(ns):
    """A copy of `ns` with its notes sorted by every field: order-free comparison."""
    return with_notes(ns, sorted(ns.notes, key=lambda n: (
        n.instrument, n.program, n.is_drum, n.pitch, n.start_time, n.end_time, n.velocity)))


def _timed(fn, path, repeat=1):
    """(result or exception, fastest of `repeat` wall times): the minimum filters out the
    preemption a shared machine adds to single runs."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        try:
            out = fn(path)
        except Exception as exc:  # both readers must fail on the same files
            out = exc
        best = min(best, time.perf_counter() - t0)
    return out, best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    ap.add_argument("--tol", type=float, default=0.0,
                    help="seconds two times may differ by (default 0: bit-identical)")
    ap.add_argument("--limit", type=int, default=0, help="files per dataset (0 = all)")
    ap.add_argument("--corpus", action="append", default=[],
                    help="NAME=GLOB (recursive **); replaces the shared-data corpora")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "midi_equality.json"))
    args = ap.parse_args(argv)

    per_dataset = {}
    mismatches, first = [], None
    fallback_files = {}  # reason -> files parsed by note_seq inside musicgen.midi_io
    all_ref, all_ours = [], []
    corpora = {ds: (os.path.join(args.data, pattern), repeat)
               for ds, (pattern, repeat) in DATASETS.items()}
    if args.corpus:
        corpora = {}
        for item in args.corpus:
            name, sep, pattern = item.partition("=")
            if not sep or not name or not pattern:
                ap.error(f"--corpus={item}: expected NAME=GLOB")
            corpora[name] = (os.path.expanduser(pattern), 1)
    # One-time cost of the reader in a fresh process (numba import + compiled-code cache load),
    # paid by the first file a process reads; measured on a tiny file and kept out of the
    # per-file timings below.
    t0 = time.perf_counter()
    try:
        midi_io.midi_bytes_to_note_sequence(_WARMUP, "warm-up")
    except midi_io.MidiConversionError:
        pass
    first_call_s = time.perf_counter() - t0
    dropped_all = {}
    for ds, (pattern, repeat) in corpora.items():
        files = sorted(glob.glob(pattern, recursive=True))
        if not files:
            print(f"{ds}: no files match {pattern}", flush=True)
            continue
        corpus_fallbacks = {}
        multiset_mismatches = 0
        if args.limit:
            files = files[:args.limit]
        # Two passes, each reader over all files back to back (as a conversion job runs),
        # so that neither reader's timings are taken with caches the other one just evicted.
        ours_all = []
        for path in files:
            before = midi_io.fallback_count()
            ours_all.append(_timed(midi_io.midi_file_to_note_sequence, path, repeat))
            for reason, count in midi_io.fallback_count().items():
                if count > before.get(reason, 0):
                    fallback_files[reason] = fallback_files.get(reason, 0) + 1
                    corpus_fallbacks[reason] = corpus_fallbacks.get(reason, 0) + 1
        ref_t, our_t, notes, both_failed, dropped = [], [], 0, 0, {}
        for path in files:  # what was dropped / repeated (as note_seq does), untimed
            report = {}
            try:
                midi_io.midi_file_to_note_sequence(path, report=report)
            except midi_io.MidiConversionError:
                pass
            for reason, count in report.items():
                dropped[reason] = dropped.get(reason, 0) + count
                dropped_all[reason] = dropped_all.get(reason, 0) + count
        for path, (ours, t_ours) in zip(files, ours_all):
            ref, t_ref = _timed(ns_midi_io.midi_file_to_note_sequence, path, repeat)
            ref_t.append(t_ref)
            our_t.append(t_ours)
            if isinstance(ref, Exception) or isinstance(ours, Exception):
                diff = None if (isinstance(ref, Exception) and isinstance(ours, Exception)) \
                    else f"only one reader failed: note_seq={ref!r} ours={ours!r}"
                both_failed += diff is None
            else:
                diff = midi_io.note_sequence_diff(ours, ref, args.tol)
                notes += len(ref.notes)
                if diff and midi_io.note_sequence_diff(_sorted_notes(ours), _sorted_notes(ref),
                                                       args.tol):
                    multiset_mismatches += 1
            if diff:
                mismatches.append(f"{ds}:{os.path.relpath(path, args.data)}")
                first = first or {"file": mismatches[-1], "difference": diff}
        del ours_all
        ref_t, our_t = np.array(ref_t), np.array(our_t)
        per_dataset[ds] = {
            "files": len(files), "notes": notes, "timing_repeats_min_of": repeat,
            "both_readers_failed": both_failed,
            "dropped_or_repeated_as_note_seq": dropped,
            "exact_mismatches": sum(1 for m in mismatches if m.startswith(ds + ":")),
            "multiset_mismatches": multiset_mismatches,
            "fallback_files": sum(corpus_fallbacks.values()),
            "fallback_rate": round(sum(corpus_fallbacks.values()) / len(files), 4),
            "fallback_reasons": corpus_fallbacks,
            "median_ms_note_seq": round(float(np.median(ref_t)) * 1e3, 3),
            "median_ms_ours": round(float(np.median(our_t)) * 1e3, 3),
            "median_ratio": round(float(np.median(ref_t / our_t)), 2),
            "total_s_note_seq": round(float(ref_t.sum()), 3),
            "total_s_ours": round(float(our_t.sum()), 3),
        }
        all_ref.append(ref_t)
        all_ours.append(our_t)
        print(f"{ds}: {per_dataset[ds]}", flush=True)
    ref_t, our_t = np.concatenate(all_ref), np.concatenate(all_ours)
    result = {
        "command": "python bench/midi_equality.py" + (f" --limit {args.limit}" if args.limit else "")
                   + (f" --tol {args.tol}" if args.tol else "")
                   + "".join(f" --corpus {c}" for c in args.corpus),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus (shared)",
        "files": int(len(ref_t)),
        "mismatching_files": len(mismatches),
        "mismatches": mismatches[:50],
        "first_mismatch": first,
        "tolerance_s": args.tol,
        "first_call_s_ours": round(first_call_s, 3),
        "dropped_or_repeated_as_note_seq": dropped_all,
        "files_parsed_by_note_seq_fallback": fallback_files,
        "median_ratio_note_seq_over_ours": round(float(np.median(ref_t / our_t)), 2),
        "total_ratio_note_seq_over_ours": round(float(ref_t.sum() / our_t.sum()), 2),
        "per_dataset": per_dataset,
    }
    print(f"mismatching files: {len(mismatches)} of {len(ref_t)} (tolerance {args.tol} s)")
    if first:
        print(f"first mismatch: {first}")
    print(f"files parsed by the note_seq fallback: {fallback_files}")
    print(f"median per-file time ratio note_seq/ours: {result['median_ratio_note_seq_over_ours']}"
          f"  (total time ratio {result['total_ratio_note_seq_over_ours']})")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    return 0 if not mismatches else 1


if __name__ == "__main__":
    sys.exit(main())
