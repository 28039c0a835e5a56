"""How many GrooveConverter cells the velocity-tie rule can affect.

A (16th step, drum class) cell keeps its loudest note; when two or more notes of the cell tie on the
highest velocity with different onsets, which one sets the cell's offset depends on the tie rule
(Magenta: the first in note order; ours: the earliest onset, then the lower pitch). Counts such cells
among all hit cells of a Groove NoteSequence split.

    .venv/bin/python bench/groove_ties.py [--dataset_dir=out/groove_ns] [--split=test]

Writes bench/results/groove_ties.json.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset_dir", default=os.path.join(ROOT, "out", "groove_ns"))
    p.add_argument("--split", default="test")
    a = p.parse_args(argv)
    from note_seq import sequences_lib

    import configs
    from musicgen.datasets.tfrecord import iterate_note_sequences
    from musicgen.paths import split_files, split_pattern
    conv = configs.CONFIG_MAP["groovae_4bar"].data_converter
    class_map = conv.pitch_class_map
    cells = ties = 0
    for path in split_files(split_pattern(a.dataset_dir, a.split), "--dataset_dir"):
        for ns in iterate_note_sequences(path):
            q = sequences_lib.quantize_note_sequence(ns, 4)
            by_cell = collections.defaultdict(list)
            for n in q.notes:
                if n.pitch in class_map:
                    by_cell[(n.quantized_start_step, class_map[n.pitch])].append(
                        (n.velocity, n.start_time))
            for notes in by_cell.values():
                cells += 1
                loudest = max(v for v, _ in notes)
                ties += len({t for v, t in notes if v == loudest}) > 1
    result = {"command": "python bench/groove_ties.py" + "".join(f" {x}" for x in (argv or sys.argv[1:])),
              "split": a.split, "hit_cells": cells, "cells_with_a_velocity_tie": ties,
              "share": round(ties / cells, 5) if cells else None}
    out = os.path.join(ROOT, "bench", "results", "groove_ties.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
