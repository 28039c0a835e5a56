"""Benchmark: convert_midi on a local dask.distributed cluster (2 workers) vs the local runner (2 workers).

Run:  .venv/bin/python bench/cluster_convert.py [--data=../shared/data] [--repeats=2]

In ONE run, on the shared data (1,150 Groove + 270 MAESTRO v2 files):

* starts a real cluster the way a deployment does: `dask scheduler` and
  `dask worker --nworkers 2 --nthreads 1` as processes on 127.0.0.1, and times its start-up
  (processes started -> 2 workers registered) and the first-use import of the job on the workers;
* times the fixed cost of a job on the cluster: a 1-file job, dask vs local;
* converts Groove alone, MAESTRO alone and both as one job (`--input=groove:...,maestro:...`,
  1,420 files) with `--runner=local --num_workers=2` and `--runner=dask --scheduler=...`, interleaved,
  --repeats times (median reported), and checks that every dask run's shards are byte-identical to the
  local run's and that the manifests agree (counts, per-input counts, skips, stats).

Results: bench/results/cluster_convert.json and bench/results/cluster_convert.md.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import distributed  # noqa: E402

from pipelines import convert_midi  # noqa: E402
from pipelines.loopback_cluster import LoopbackCluster  # noqa: E402

VOLATILE = ("runner", "timing", "versions", "arguments")


def shard_bytes(out):
    return {os.path.basename(p): open(p, "rb").read()
            for p in sorted(glob.glob(os.path.join(out, "*.tfrecord")))}


def stable(manifest):
    return {k: v for k, v in manifest.items() if k not in VOLATILE}


def start_cluster(tmp):
    """(cluster, address, start-up s, first-use import s of the job on the workers)."""
    cluster = LoopbackCluster(tmp, nworkers=2)
    t0 = time.perf_counter()
    address = cluster.start()
    started = time.perf_counter() - t0
    with distributed.Client(address, timeout=60) as client:
        t0 = time.perf_counter()
        client.run(__import__, "pipelines.convert_midi")  # what a job's first task pays per worker
        imported = time.perf_counter() - t0
    return cluster, address, started, imported


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "data"))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    groove = os.path.abspath(os.path.join(args.data, "groove"))
    maestro = os.path.abspath(os.path.join(args.data, "maestro-v2.0.0"))
    jobs = {"groove": {"inputs": [f"groove:{groove}"]},
            "maestro": {"inputs": [f"maestro:{maestro}"]},
            "groove+maestro": {"inputs": [f"groove:{groove},maestro:{maestro}"]}}
    tmp = tempfile.mkdtemp(prefix="cluster-bench-")
    load_before = os.getloadavg()
    cluster, address, started, imported = start_cluster(tmp)
    results = {"cluster": {"start_s": round(started, 2), "worker_import_s": round(imported, 2),
                           "workers": 2, "threads_per_worker": 1, "scheduler": "dask scheduler "
                           "(127.0.0.1)", "distributed": distributed.__version__},
               "jobs": {}}
    try:
        # fixed cost of one job: a 1-file job (listing + connect + one task + shards + manifest)
        one = os.path.join(tmp, "one")
        os.makedirs(one)
        first = sorted(glob.glob(os.path.join(groove, "drummer1", "**", "*.mid"), recursive=True))[0]
        shutil.copy(first, one)
        fixed = {}
        for runner in ("local", "dask"):
            times = []
            for r in range(3):
                out = os.path.join(tmp, f"one-{runner}-{r}")
                t0 = time.perf_counter()
                convert_midi.convert(out, "dir", one, runner=runner, num_workers=2,
                                     scheduler=address, split_by="none")
                times.append(time.perf_counter() - t0)
            fixed[runner] = round(statistics.median(times), 3)
        results["one_file_job_s"] = fixed
        for name, spec in jobs.items():
            runs = {"local": [], "dask": []}
            identical, manifests_equal, reference = True, True, None
            for r in range(args.repeats):
                for runner in ("local", "dask"):
                    out = os.path.join(tmp, f"{name}-{runner}-{r}")
                    t0 = time.perf_counter()
                    manifest = convert_midi.convert(out, inputs=spec["inputs"], runner=runner,
                                                    num_workers=2, scheduler=address)
                    runs[runner].append(time.perf_counter() - t0)
                    data = shard_bytes(out)
                    if reference is None:
                        reference = (data, stable(manifest))
                    else:
                        identical &= data == reference[0]
                        manifests_equal &= stable(manifest) == reference[1]
                    shutil.rmtree(out)
            files = sum(reference[1]["inputs_per_split"].values()) + reference[1]["num_skipped"]
            entry = {"files": files, "counts": reference[1]["counts"],
                     "num_skipped": reference[1]["num_skipped"],
                     "shards_byte_identical": identical, "manifests_equal": manifests_equal,
                     "shard_bytes": sum(len(b) for b in reference[0].values())}
            for runner, times in runs.items():
                wall = statistics.median(times)
                entry[runner] = {"wall_s": round(wall, 2), "files_per_s": round(files / wall, 1),
                                 "all_s": [round(t, 2) for t in times]}
            results["jobs"][name] = entry
            print(name, json.dumps(entry), flush=True)
    finally:
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    results["load_average"] = {"before": [round(x, 2) for x in load_before],
                               "after": [round(x, 2) for x in os.getloadavg()]}
    results["cpu_count"] = os.cpu_count()
    os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
    with open(os.path.join(ROOT, "bench", "results", "cluster_convert.json"), "w") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    write_md(results)


def write_md(res):
    c = res["cluster"]
    lines = ["# convert_midi: local dask.distributed cluster vs local runner (2 workers each)", "",
             f"Command: `python bench/cluster_convert.py` ({res['cpu_count']} cores, shared machine; load "
             f"average before {res['load_average']['before']}, after {res['load_average']['after']}). "
             f"Cluster: `dask scheduler` + `dask worker --nworkers 2 --nthreads 1` on 127.0.0.1 "
             f"(distributed {c['distributed']}). Wall = the whole job as a call (listing, parse, shards, "
             "manifest), median of the runs (local and dask interleaved).", "",
             f"Fixed start-up cost of the engine: cluster start (processes launched -> 2 workers "
             f"registered) **{c['start_s']} s**; first-use import of the job on the workers "
             f"**{c['worker_import_s']} s** (paid once per worker process); per-job fixed cost (a 1-file "
             f"job): local {res['one_file_job_s']['local']} s, dask {res['one_file_job_s']['dask']} s.",
             "", "| job | files | counts | skipped | local wall s | local files/s | dask wall s | "
             "dask files/s | shards byte-identical | manifests equal |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, e in res["jobs"].items():
        counts = ", ".join(f"{k} {v}" for k, v in e["counts"].items())
        lines.append(f"| {name} | {e['files']} | {counts} | {e['num_skipped']} | {e['local']['wall_s']} | "
                     f"{e['local']['files_per_s']} | {e['dask']['wall_s']} | {e['dask']['files_per_s']} | "
                     f"{e['shards_byte_identical']} | {e['manifests_equal']} |")
    with open(os.path.join(ROOT, "bench", "results", "cluster_convert.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
