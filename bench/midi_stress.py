"""Write a generated stress corpus of MIDI files: N files of every fixture class.

The classes are the functions of tests/midi_fixtures.py (tests/ is put on sys.path to import
it): out/stress/<class>/NNN.mid, file NNN generated with seed (--seed * 100003 + NNN), so the corpus
is the same on every machine. million_notes_two_channels gets --million_files files of
--million_notes notes (default 2 x 1,000,000); the other sized classes scale their size with
the file number (1x..4x their default) so that every corpus has small and large files.
Prints the bench/midi_equality.py command that compares both readers on the corpus.

    .venv/bin/python bench/midi_stress.py [--files 50] [--out out/stress] [--classes a,b]
    .venv/bin/python bench/midi_equality.py --corpus pop_multitrack_overlaps='out/stress/pop_multitrack_overlaps/*.mid' ...

Classes with expectation "limit" (ours raises by its limits, note_seq would try a
multi-gigabyte array) are written only with --with_limit, under their own names: the equality
bench runs note_seq on every file.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

import midi_fixtures as fx  # noqa: E402

# default size of the sized classes (their function defaults)
_DEFAULT_SIZE = {"pop_multitrack_overlaps": 8, "piano_unsorted_offs": 64, "early_end_of_track": 16,
                 "corrupted_note_offs": 200, "program_change_while_held": 40,
                 "same_tick_on_off": 40, "running_status_mixed": 50}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "stress"))
    ap.add_argument("--files", type=int, default=50, help="files per class")
    ap.add_argument("--million_files", type=int, default=2)
    ap.add_argument("--million_notes", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--classes", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--with_limit", action="store_true",
                    help="also write the 'limit' classes (not for bench/midi_equality.py)")
    args = ap.parse_args(argv)

    names = [c for c in args.classes.split(",") if c] or list(fx.CLASSES)
    unknown = set(names) - set(fx.CLASSES)
    if unknown:
        ap.error(f"unknown classes {sorted(unknown)}; known: {', '.join(fx.CLASSES)}")
    written = {}
    for name in names:
        if fx.CLASSES[name][1] == "limit" and not args.with_limit:
            continue
        folder = os.path.join(args.out, name)
        os.makedirs(folder, exist_ok=True)
        n_files = args.million_files if name == "million_notes_two_channels" else args.files
        t0, total = time.perf_counter(), 0
        for i in range(n_files):
            seed = args.seed * 100003 + i
            if name == "million_notes_two_channels":
                size = args.million_notes
            elif name in _DEFAULT_SIZE:
                size = _DEFAULT_SIZE[name] * (1 + i % 4)
            else:
                size = None
            data = fx.make(name, seed, size)
            with open(os.path.join(folder, f"{i:03d}.mid"), "wb") as f:
                f.write(data)
            total += len(data)
        written[name] = folder
        print(f"{name}: {n_files} files, {total / 1e6:.2f} MB, {time.perf_counter() - t0:.1f} s "
              f"-> {folder}", flush=True)
    def shown(path):
        rel = os.path.relpath(path, ROOT)
        return path if rel.startswith("..") else rel
    corpora = " ".join(f"--corpus {n}='{shown(p)}/*.mid'"
                       for n, p in written.items() if fx.CLASSES[n][1] != "limit")
    print("\nequality + fallback rate on the corpus:\n"
          f"  .venv/bin/python bench/midi_equality.py {corpora} "
          "--out bench/results/midi_equality_stress.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
