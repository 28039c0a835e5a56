"""Examples per config on the shared Groove data, per split, with the configs as they are in configs.py.

    python bench/counts.py [--groove_dir ../shared/data/groove]

Reads every Groove file once (musicgen.midi_io + the Groove reader's split/metadata), then runs each
drum / groove config's converter in 'eval' mode (no sampling cap randomness) and counts windows per
split. Writes bench/results/counts.json and .md. Melody / performance / REMI counts come from
bench/roundtrip_melody_drums.py and bench/roundtrip_performance_remi.py.
"""
import argparse
import collections
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import musicgen  # noqa: F401  (quiets TF / pydub)
import configs
from musicgen import midi_io
from musicgen.datasets import readers


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--groove_dir", default=os.path.join(ROOT, "..", "shared", "data", "groove"))
    parser.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "counts"))
    args = parser.parse_args()
    sources, skipped = readers.read_groove(args.groove_dir)
    seqs = []
    for src in sources:
        ns = midi_io.midi_file_to_note_sequence(src.path)
        readers.apply_metadata(ns, src.metadata)
        seqs.append((src.split, ns))
    names = [n for n, c in configs.CONFIG_MAP.items() if c.default_dataset == configs.DRUMS_DATASET]
    results = {}
    for name in names:
        conv = configs.CONFIG_MAP[name].data_converter
        conv.set_mode("eval")
        counts = collections.Counter()
        start = time.perf_counter()
        for split, ns in seqs:
            counts[split] += len(conv.to_tensors(ns))
        results[name] = {"counts": dict(counts), "total": sum(counts.values()),
                         "seconds": round(time.perf_counter() - start, 2)}
        print(name, results[name], flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out + ".json", "w") as f:
        json.dump({"files": len(seqs), "reader_skipped": len(skipped), "configs": results}, f, indent=1)
    lines = ["# Examples per config on the shared Groove data (eval mode)", "",
             f"`python bench/counts.py`: {len(seqs)} Groove files.", "",
             "| config | train | validation | test | total |", "|---|---|---|---|---|"]
    for name, r in results.items():
        c = r["counts"]
        lines.append(f"| {name} | {c.get('train', 0):,} | {c.get('validation', 0):,} | "
                     f"{c.get('test', 0):,} | {r['total']:,} |")
    with open(args.out + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
