"""NLL per note: token LMs of different encodings (performance events, REMI) on one scale.

NLL per token depends on the encoding (a REMI note is Position? + Velocity + Pitch + Duration, a
performance note is NOTE_ON + NOTE_OFF + its share of TIME_SHIFTs and VELOCITYs), so per-token figures of
music_transformer_small and transformer_xl_remi_small do not compare. The summed NLL of a split's
eval windows divided by the notes those windows hold does: nats per note of the same MAESTRO test
performances. Reads bench/results/eval_<config>_<split>.json (written by bench/eval_lm.py: NLL per
token and the token count of the same windows) and counts the notes of the config's eval-mode
windows (NOTE_ON events / Pitch tokens).

    .venv/bin/python bench/lm_nll_per_note.py --configs=performance_rnn_small,music_transformer_small,transformer_xl_remi_small

Writes bench/results/lm_nll_per_note.{json,md}.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
RESULTS = os.path.join(ROOT, "bench", "results")


def note_count(config, ns_dir, split) -> dict:
    from musicgen.config import converter_for
    from musicgen.converters.token_utils import NUM_RESERVED
    from musicgen.datasets.tfrecord import iterate_note_sequences
    conv = converter_for(config, "eval")
    vocab = conv.lm_vocabulary()
    if vocab["params"].get("encoding") == "remi":
        tokens = vocab["params"]["tokens"]
        note_ids = {i + NUM_RESERVED for i, t in enumerate(tokens) if t.startswith("Pitch_")}
    else:  # performance events: NOTE_ON of min..max pitch are the first classes (note_seq order)
        pitches = vocab["params"]["max_pitch"] - vocab["params"]["min_pitch"] + 1
        note_ids = set(range(NUM_RESERVED, NUM_RESERVED + pitches))
    notes = windows = tokens_predicted = 0
    for ns in iterate_note_sequences(os.path.join(ns_dir, f"{split}-*.tfrecord")):
        for w in conv.lm_windows(ns):
            windows += 1
            tokens_predicted += len(w) - 1
            notes += sum(1 for t in w.tolist() if t in note_ids)
    return {"notes": notes, "windows": windows, "tokens_predicted": tokens_predicted}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="performance_rnn_small,music_transformer_small,"
                                         "transformer_xl_remi_small")
    ap.add_argument("--split", default="test")
    ap.add_argument("--ns_dir", default=os.path.join(ROOT, "out", "maestro_ns"))
    args = ap.parse_args(argv)
    from musicgen.config import get_config
    rows = []
    for name in args.configs.split(","):
        with open(os.path.join(RESULTS, f"eval_{name}_{args.split}.json"), encoding="utf-8") as f:
            report = json.load(f)
        trained = report["results"]["trained"]
        counts = note_count(get_config(name)[1], args.ns_dir, args.split)
        if counts["tokens_predicted"] != trained["tokens"]:
            raise SystemExit(f"{name}: {counts['tokens_predicted']} predicted tokens here vs "
                             f"{trained['tokens']} in the eval report: not the same windows")
        total = trained["nll"] * trained["tokens"]
        rows.append({"config": name, "checkpoint": report["checkpoint"],
                     "step": report.get("checkpoint_step"), "nll_per_token": trained["nll"],
                     "tokens": trained["tokens"], **counts, "tokens_per_note":
                     trained["tokens"] / counts["notes"], "nll_per_note": total / counts["notes"],
                     "uniform_nll_per_note": report["results"]["uniform"]["nll"]
                     * trained["tokens"] / counts["notes"],
                     "unigram_nll_per_note": report["results"]["train unigram"]["nll"]
                     * trained["tokens"] / counts["notes"]})
    out = {"date": time.strftime("%Y-%m-%d %H:%M"), "split": args.split, "rows": rows}
    path = os.path.join(RESULTS, "lm_nll_per_note")
    with open(path + ".json", "w", encoding="utf-8") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    lines = [f"# NLL per note on the MAESTRO subset's {args.split} split "
             f"(`bench/lm_nll_per_note.py`, {out['date']})", "",
             "| config | step | NLL / token | tokens | notes | tokens / note | NLL / note | "
             "uniform / note | train unigram / note |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['config']} | {r['step']} | {r['nll_per_token']:.3f} | "
                     f"{r['tokens']:,} | {r['notes']:,} | {r['tokens_per_note']:.2f} | "
                     f"**{r['nll_per_note']:.2f}** | {r['uniform_nll_per_note']:.2f} | "
                     f"{r['unigram_nll_per_note']:.2f} |")
    with open(path + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
