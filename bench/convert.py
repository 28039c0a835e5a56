"""Benchmark: MIDI dataset -> NoteSequence TFRecords, baseline vs `pipelines.convert_midi`.

Run:  .venv/bin/python bench/convert.py [--data=/work/shared/data] [--repeats=3]

In ONE process, on the 270 MAESTRO v2 files and the 1,150 Groove files of the shared data:

* baseline: one process, `note_seq.midi_io.midi_file_to_note_sequence` per file, metadata attached,
  `tf.io.TFRecordWriter` (one shard per split) — what a Magenta-style script does;
* this job: `pipelines.convert_midi.convert(...)` with 1 and 2 workers (listing, parsing, shards,
  manifest: the whole job as a function call; imports done beforehand for both).

Reports files/s, notes/s and the speed-up (median of --repeats job runs; the baseline runs once per
dataset, it is slow), the load average around the runs (the machine is shared), the cProfile top
entries of a 1-worker run, and the TFRecord writer comparison (our pure-Python framing vs
tf.io.TFRecordWriter on the same records, plus the `import tensorflow` time it avoids).
Results: bench/results/convert.json and bench/results/convert.md.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import musicgen  # noqa: E402,F401  (quiets pydub's ffmpeg warning)
import tensorflow as tf  # noqa: E402  (baseline writer; imported before any timing)
from note_seq import midi_io as ns_midi_io  # noqa: E402

from musicgen.datasets import readers, tfrecord  # noqa: E402
from pipelines import convert_midi  # noqa: E402

RESULTS = os.path.join(ROOT, "bench", "results")
DATASETS = {"maestro": "maestro-v2.0.0", "groove": "groove"}


def cpu_seconds() -> float:
    """User + system CPU time of this process and its reaped children (the job's workers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def baseline(dataset: str, input_dir: str, out_dir: str) -> dict:
    """note_seq + tf.io.TFRecordWriter, one process."""
    sources, _ = readers.READERS[dataset](input_dir)
    os.makedirs(out_dir, exist_ok=True)
    cpu = cpu_seconds()
    start = time.perf_counter()
    writers, notes = {}, 0
    for source in sources:
        ns = ns_midi_io.midi_file_to_note_sequence(source.path)
        readers.apply_metadata(ns, source.metadata)
        notes += len(ns.notes)
        if source.split not in writers:
            writers[source.split] = tf.io.TFRecordWriter(
                os.path.join(out_dir, tfrecord.shard_name(source.split, 0, 1)))
        writers[source.split].write(ns.SerializeToString())
    for w in writers.values():
        w.close()
    return {"files": len(sources), "notes": notes, "seconds": time.perf_counter() - start,
            "cpu_seconds": cpu_seconds() - cpu}


def job(dataset: str, input_dir: str, out_dir: str, workers: int) -> dict:
    cpu = cpu_seconds()
    manifest = convert_midi.convert(out_dir, dataset, input_dir, num_workers=workers)
    return {"files": manifest["total"], "notes": manifest["stats"]["notes"],
            "seconds": manifest["timing"]["seconds"], "cpu_seconds": cpu_seconds() - cpu,
            "skipped": manifest["num_skipped"], "counts": manifest["counts"]}


def profile_job(dataset: str, input_dir: str, out_dir: str, top: int = 15) -> tuple:
    """cProfile of a 1-worker (in-process) run: the top entries by own time, and the files that
    musicgen.midi_io handed to its slow note_seq fallback during that run."""
    from musicgen import midi_io
    count = getattr(midi_io, "fallback_count", dict)  # absent in other midi_io versions
    before = dict(count())
    prof = cProfile.Profile()
    prof.enable()
    convert_midi.convert(out_dir, dataset, input_dir, num_workers=1)
    prof.disable()
    stream = io.StringIO()
    pstats.Stats(prof, stream=stream).sort_stats("tottime").print_stats(top)
    lines = [ln for ln in stream.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
    after = count()
    fallbacks = {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}
    return lines[start:start + top + 1], fallbacks


def writer_comparison(pattern: str) -> dict:
    """Write the same serialized NoteSequences with both writers; time each; check equal bytes."""
    records = list(tfrecord.iterate_records(pattern))
    size = sum(len(r) for r in records)
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = os.path.join(tmp, "ours.tfrecord"), os.path.join(tmp, "tf.tfrecord")
        t = []
        for _ in range(3):
            start = time.perf_counter()
            tfrecord.write_records(ours, records)  # includes fsync + rename
            t.append(time.perf_counter() - start)
        u = []
        for _ in range(3):
            start = time.perf_counter()
            with tf.io.TFRecordWriter(theirs) as w:
                for r in records:
                    w.write(r)
            u.append(time.perf_counter() - start)
        same = open(ours, "rb").read() == open(theirs, "rb").read()
    imports = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import tensorflow"], check=True)
        imports.append(time.perf_counter() - start)
    return {"records": len(records), "megabytes": round(size / 1e6, 1),
            "ours_seconds": round(statistics.median(t), 4),
            "tf_seconds": round(statistics.median(u), 4), "byte_identical": same,
            "import_tensorflow_seconds": round(statistics.median(imports), 2)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "data"))
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = {"command": "python bench/convert.py " + " ".join(sys.argv[1:]),
               "cpu_count": os.cpu_count(), "load_before": os.getloadavg(), "datasets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for dataset, folder in DATASETS.items():
            input_dir = os.path.join(args.data, folder)
            print(f"[{dataset}] baseline ...", file=sys.stderr)
            base = baseline(dataset, input_dir, os.path.join(tmp, f"{dataset}-baseline"))
            entry = {"baseline": base}
            runs = {1: [], 2: []}
            for _ in range(args.repeats):  # interleaved, so both see the same machine load
                for workers in runs:
                    runs[workers].append(
                        job(dataset, input_dir, os.path.join(tmp, f"{dataset}-{workers}"), workers))
            for workers, rs in runs.items():
                seconds = [r["seconds"] for r in rs]
                cpu = [r["cpu_seconds"] for r in rs]
                entry[f"job_{workers}_workers"] = {**rs[0], "seconds": statistics.median(seconds),
                                                   "all_seconds": seconds,
                                                   "cpu_seconds": statistics.median(cpu)}
                assert rs[0]["notes"] == base["notes"], (dataset, rs[0]["notes"], base["notes"])
            for key, run in entry.items():
                run["files_per_s"] = round(run["files"] / run["seconds"], 1)
                run["notes_per_s"] = round(run["notes"] / run["seconds"])
                run["speedup"] = round(base["seconds"] / run["seconds"], 1)
                run["cpu_ratio"] = round(base["cpu_seconds"] / run["cpu_seconds"], 1)
            entry["profile_1_worker"], entry["note_seq_fallbacks"] = profile_job(
                dataset, input_dir, os.path.join(tmp, "prof"))
            results["datasets"][dataset] = entry
            print(json.dumps({k: v for k, v in entry.items() if k != "profile_1_worker"}, indent=1),
                  file=sys.stderr)
        results["writer"] = writer_comparison(os.path.join(tmp, "maestro-2", "*.tfrecord"))
    results["load_after"] = os.getloadavg()
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "convert.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(RESULTS, "convert.md"), "w", encoding="utf-8") as f:
        f.write(markdown(results))
    print(markdown(results))


def markdown(results: dict) -> str:
    rows = ["| dataset | run | files | notes | wall s | files/s | notes/s | speed-up (wall) | CPU s | "
            "CPU-time ratio |", "|---|---|---|---|---|---|---|---|---|---|"]
    for dataset, entry in results["datasets"].items():
        for key in ("baseline", "job_1_workers", "job_2_workers"):
            r = entry[key]
            name = {"baseline": "baseline (note_seq + tf.io.TFRecordWriter, 1 process)",
                    "job_1_workers": "convert_midi, 1 worker",
                    "job_2_workers": "convert_midi, 2 workers"}[key]
            rows.append(f"| {dataset} | {name} | {r['files']} | {r['notes']:,} | {r['seconds']:.2f} | "
                        f"{r['files_per_s']} | {r['notes_per_s']:,} | {r['speedup']}x | "
                        f"{r['cpu_seconds']:.2f} | {r['cpu_ratio']}x |")
    w = results["writer"]
    load = ", ".join(f"{x:.2f}" for x in results["load_before"])
    load_after = ", ".join(f"{x:.2f}" for x in results["load_after"])
    text = ["# MIDI -> NoteSequence TFRecords: baseline vs convert_midi", "",
            f"Command: `{results['command'].strip()}` ({results['cpu_count']} cores; load average "
            f"before {load}, after {load_after} — a shared machine). Job times are medians of "
            "repeated runs (1- and 2-worker runs interleaved), each the whole job (listing, parse, "
            "shards, manifest) as a call in the same process as the baseline; imports excluded for "
            "both. CPU s = user + system time of the process and its workers: the work done, "
            "unlike wall time hardly moved by other users' load.", ""] + rows + [
            "", f"TFRecord writing of {w['records']} MAESTRO NoteSequences ({w['megabytes']} MB): "
            f"ours {w['ours_seconds']} s (with fsync), tf.io.TFRecordWriter {w['tf_seconds']} s, "
            f"byte-identical: {w['byte_identical']}; the job avoids `import tensorflow` "
            f"({w['import_tensorflow_seconds']} s).", ""]
    for dataset, entry in results["datasets"].items():
        fallbacks = sum(entry["note_seq_fallbacks"].values())
        text += [f"cProfile, {dataset}, 1 worker (top by own time); files sent by midi_io to its "
                 f"note_seq fallback: {fallbacks} {entry['note_seq_fallbacks']}:", "", "```"]
        text += entry["profile_1_worker"] + ["```", ""]
    return "\n".join(text)


if __name__ == "__main__":
    main()
