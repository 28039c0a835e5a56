"""Cold-start wall time of `python -m musicgen.generate --num_outputs=5` vs `import tensorflow`.

Each run is a fresh Python process (the OS file cache is warm after the first run, as it is for a
user running the command twice). Reports the median of `--repeats` runs of each command, their
ratio, and one `-X importtime` breakdown of the generate command's heaviest top-level imports.

    .venv/bin/python bench/generate_cold.py                      # bundled groovae_4bar
    .venv/bin/python bench/generate_cold.py --checkpoint_file=/tmp/ck/tiny.weights.h5

Writes bench/results/generate_cold.json and .md.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results")
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0",
           PYTHONWARNINGS="ignore::DeprecationWarning", PYTHONPATH=ROOT)


def timed(cmd: list, cwd: str) -> float:
    """Wall seconds of one subprocess run; raises with its stderr if it fails."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=ENV, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall


WATCHED_IMPORTS = ("keras", "tensorflow", "configs", "note_seq", "note_seq.notebook_utils",
                   "note_seq.audio_io", "musicgen.models", "musicgen.converters", "musicgen.midi_io",
                   "numba", "absl.app", "tensorflow_probability", "tensorflow_datasets", "librosa")


def import_breakdown(cmd: list, cwd: str) -> list:
    """Cumulative import seconds (python -X importtime) of WATCHED_IMPORTS, where imported."""
    proc = subprocess.run([cmd[0], "-X", "importtime"] + cmd[1:], cwd=cwd, env=ENV,
                          capture_output=True, text=True)
    found = {}
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s*(\S+)$", line)
        if m and m.group(2) in WATCHED_IMPORTS and m.group(2) not in found:
            found[m.group(2)] = round(int(m.group(1)) / 1e6, 3)
    return [[name, found[name]] for name in WATCHED_IMPORTS if name in found]


PHASES = r"""
import json, os, sys, time
t = [time.perf_counter()]
import keras, configs; t.append(time.perf_counter())
from musicgen import checkpoints, midi_io
from musicgen.trained_model import DEFAULT_CONFIG, load_model
from musicgen.trained_model import TrainedModel; t.append(time.perf_counter())
path = sys.argv[1] or checkpoints.pretrained_path(DEFAULT_CONFIG)
name, config, model = load_model(None, path); t.append(time.perf_counter())
tm = TrainedModel(config, model=model, batch_size=5)
seqs = tm.sample(5); t.append(time.perf_counter())
for i, ns in enumerate(seqs):
    midi_io.note_sequence_to_midi_file(ns, os.path.join(sys.argv[2], f"{i}.mid"))
t.append(time.perf_counter())
names = ["import keras+configs (TF, note_seq, converters, models)", "import musicgen rest",
         "build model + load weights", "sample 5 (encode-free decode)", "write 5 MIDI files"]
print(json.dumps({k: round(b - a, 3) for k, a, b in zip(names, t, t[1:])}))
"""


def phases(checkpoint, cwd: str) -> dict:
    """Seconds per phase of one in-process generate run (a fresh process)."""
    proc = subprocess.run([sys.executable, "-c", PHASES, checkpoint or "", cwd], cwd=cwd, env=ENV,
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--checkpoint_file", default=None,
                        help="checkpoint to generate from (default: the bundled model)")
    parser.add_argument("--output", default=os.path.join(RESULTS, "generate_cold"))
    args = parser.parse_args(argv)

    py = sys.executable
    with tempfile.TemporaryDirectory() as cwd:
        gen = [py, "-m", "musicgen.generate", "--num_outputs=5", f"--output_dir={cwd}/out"]
        if args.checkpoint_file:
            gen.append(f"--checkpoint_file={os.path.abspath(args.checkpoint_file)}")
        base = [py, "-c", "import tensorflow"]
        keras_base = [py, "-c", "import keras"]
        timed(base, cwd)  # warm the OS file cache once for all
        gen_times, base_times, keras_times = [], [], []
        for _ in range(args.repeats):  # interleaved, so load changes hit all three alike
            base_times.append(timed(base, cwd))
            keras_times.append(timed(keras_base, cwd))
            gen_times.append(timed(gen, cwd))
        n_files = len(os.listdir(os.path.join(cwd, "out")))
        breakdown = import_breakdown(gen, cwd)
        phase_s = phases(args.checkpoint_file and os.path.abspath(args.checkpoint_file), cwd)

    result = {
        "command": "python -m musicgen.generate --num_outputs=5"
                   + (f" --checkpoint_file={args.checkpoint_file}" if args.checkpoint_file else ""),
        "model": args.checkpoint_file or "bundled groovae_4bar",
        "repeats": args.repeats,
        "generate_s": [round(t, 3) for t in gen_times],
        "import_tensorflow_s": [round(t, 3) for t in base_times],
        "generate_median_s": round(statistics.median(gen_times), 3),
        "import_tensorflow_median_s": round(statistics.median(base_times), 3),
        "min_s": {"import_tensorflow": round(min(base_times), 3),
                  "import_keras": round(min(keras_times), 3),
                  "generate": round(min(gen_times), 3)},
        "import_keras_s": [round(t, 3) for t in keras_times],
        "import_keras_median_s": round(statistics.median(keras_times), 3),
        "ratio_generate_over_import_keras": round(statistics.median(gen_times)
                                                  / statistics.median(keras_times), 2),
        "ratio_generate_over_import_tf": round(statistics.median(gen_times)
                                               / statistics.median(base_times), 2),
        "midi_files_written": n_files,
        "import_breakdown_s": breakdown,
        "phases_s": phase_s,
        "cpu_count": os.cpu_count(),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "python": sys.version.split()[0],
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output + ".json", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    with open(args.output + ".md", "w", encoding="utf-8") as f:
        f.write(render_md(result))
    print(render_md(result))
    return result


def render_md(r: dict) -> str:
    rows = "\n".join(f"| `{name}` | {secs:.2f} |" for name, secs in r["import_breakdown_s"])
    return (f"# Cold start of `{r['command']}`\n\n"
            f"Median of {r['repeats']} fresh processes ({r['cpu_count']} CPUs, 1-min load "
            f"average {r['load_average_1min_at_end']} at the end, Python {r['python']}, "
            f"{r['date']}; `bench/generate_cold.py`). Compare the ratio, not the seconds, "
            "across machines and loads.\n\n"
            "| command | median wall s | runs |\n|---|---|---|\n"
            f"| `python -c \"import tensorflow\"` (baseline) | {r['import_tensorflow_median_s']:.2f}"
            f" | {r['import_tensorflow_s']} |\n"
            f"| `python -c \"import keras\"` (Keras 3 on TF) | {r['import_keras_median_s']:.2f}"
            f" | {r['import_keras_s']} |\n"
            f"| `{r['command']}` | {r['generate_median_s']:.2f} | {r['generate_s']} |\n\n"
            f"Ratio generate / import tensorflow: **{r['ratio_generate_over_import_tf']}x**; "
            f"generate / import keras: {r['ratio_generate_over_import_keras']}x; "
            f"fastest runs (least disturbed by other jobs): import tensorflow "
            f"{r['min_s']['import_tensorflow']:.2f} s, import keras "
            f"{r['min_s']['import_keras']:.2f} s, generate {r['min_s']['generate']:.2f} s; "
            f"{r['midi_files_written'] // r['repeats']} MIDI files per run.\n\n"
            "Phases of one in-process run (fresh process, s):\n\n| phase | s |\n|---|---|\n"
            + "".join(f"| {k} | {v:.2f} |\n" for k, v in r["phases_s"].items()) + "\n"
            "Cumulative import time of selected packages in the generate command "
            "(`-X importtime`; nested ones are included in their parents; a package not listed "
            "was never imported):\n\n"
            f"| package | s |\n|---|---|\n{rows}\n")


if __name__ == "__main__":
    main()
