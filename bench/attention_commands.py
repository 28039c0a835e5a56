"""The attention LMs through the project's own commands on MAESTRO shards.

For each small config: `python -m musicgen.train` for a few steps on the MAESTRO NoteSequence shards
(or an existing run dir), then `python -m musicgen.generate --run_dir=R --max_events=256` in sample
mode and in continue mode (primer: the first 20 s of a MAESTRO test performance), each output read
back as MIDI: notes, length, pitch range; REMI outputs also report lenient-decoding repairs.

    .venv/bin/python bench/attention_commands.py                  # 3 fresh steps per config
    .venv/bin/python bench/attention_commands.py --run_dirs=music_transformer_small=runs/music_transformer_small

Writes bench/results/attention_commands.{json,md}.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
CONFIGS = ("music_transformer_small", "music_gpt2_small", "transformer_xl_remi_small")


def run(args, log):
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=ENV, capture_output=True,
                         text=True)
    log.append({"command": "python -m " + " ".join(args), "rc": out.returncode,
                "seconds": round(time.perf_counter() - t0, 1),
                "stderr_tail": out.stderr.strip().splitlines()[-3:]})
    if out.returncode:
        raise RuntimeError(f"{args[0]} failed:\n{out.stderr[-2000:]}")
    return out


def primer(path):
    """The first 20 s of the first MAESTRO test performance of the shards, as a MIDI file."""
    sys.path.insert(0, ROOT)
    from note_seq import sequences_lib

    from musicgen import midi_io
    from musicgen.datasets.tfrecord import iterate_note_sequences
    ns = next(iter(iterate_note_sequences(os.path.join(ROOT, "out", "maestro_ns",
                                                       "test-*.tfrecord"))))
    ns = sequences_lib.extract_subsequence(ns, 0.0, 20.0)
    midi_io.note_sequence_to_midi_file(ns, path)
    return ns.filename or ns.id


def describe(path):
    from musicgen import midi_io
    ns = midi_io.midi_file_to_note_sequence(path)
    pitches = [n.pitch for n in ns.notes]
    return {"file": os.path.basename(path), "notes": len(ns.notes),
            "seconds": round(ns.total_time, 2),
            "pitch_range": [min(pitches), max(pitches)] if pitches else None}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--run_dirs", default="", help="config=run_dir,... to use instead of training")
    ap.add_argument("--output", default=os.path.join(RESULTS, "attention_commands"))
    args = ap.parse_args(argv)
    given = dict(item.split("=", 1) for item in args.run_dirs.split(",") if item)
    work = tempfile.mkdtemp(prefix="attention_commands_")
    primer_path = os.path.join(work, "primer.mid")
    source = primer(primer_path)
    rows = []
    for name in CONFIGS:
        log, row = [], {"config": name}
        run_dir = given.get(name)
        if run_dir is None:
            run_dir = os.path.join(work, name)
            run(["musicgen.train", f"--config={name}", "--dataset_dir=out/maestro_ns",
                 f"--run_dir={run_dir}", f"--num_steps={args.steps}", "--log_every=1",
                 f"--save_checkpoint_steps={args.steps}", "--noprogress", "--seed=0"], log)
            row["trained_steps"] = args.steps
        row["run_dir"] = run_dir
        for mode in ("sample", "continue"):
            out_dir = os.path.join(work, f"{name}_{mode}")
            out = run(["musicgen.generate", f"--run_dir={run_dir}", f"--mode={mode}",
                       "--max_events=256", "--num_outputs=2", "--seed=1",
                       f"--primer_midi={primer_path}", f"--output_dir={out_dir}"], log)
            files = sorted(glob.glob(os.path.join(out_dir, "*.mid")))
            row[mode] = [describe(f) for f in files]
            row[mode + "_lenient_decodes"] = [line for line in out.stderr.splitlines()
                                              if "decoded leniently" in line]
        row["log"] = log
        rows.append(row)
        print(json.dumps({k: row[k] for k in ("config", "sample", "continue")}), flush=True)
    result = {"date": time.strftime("%Y-%m-%d %H:%M"), "primer": source, "rows": rows}
    with open(args.output + ".json", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    lines = [f"# Attention LMs through train / generate on MAESTRO shards "
             f"(`bench/attention_commands.py`, {result['date']})", "",
             f"Primer for continue: first 20 s of `{source}`; `--max_events=256 --num_outputs=2`.",
             "", "| config | run | mode | notes per file | seconds per file | lenient decodes |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        trained = (f"{row['trained_steps']} fresh steps" if "trained_steps" in row
                   else f"`{row['run_dir']}`")
        for mode in ("sample", "continue"):
            lines.append(f"| {row['config']} | {trained} | {mode} | "
                         f"{', '.join(str(d['notes']) for d in row[mode])} | "
                         f"{', '.join(str(d['seconds']) for d in row[mode])} | "
                         f"{len(row[mode + '_lenient_decodes'])} |")
    with open(args.output + ".md", "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
