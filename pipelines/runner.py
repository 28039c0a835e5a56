"""Shared batch-job machinery of convert_midi and make_examples: local and Beam runners, manifest.

A job is a per-item function ``process(item) -> Result`` (ONE implementation used by both runners)
plus how to name an item and which split it belongs to.

* Local runner: ``process`` over a process pool (fork) with a bounded in-flight window, results
  consumed in input order, so records reach the :class:`~musicgen.datasets.tfrecord.ShardedWriter`
  in a fixed order and re-runs give byte-identical shards. A worker that dies (e.g. a crash in a
  C extension on a hostile file) never stops the job: the in-flight items are retried one by one in
  fresh processes and the one that kills its process is recorded as skipped.
* Beam runner: a real apache_beam pipeline (DirectRunner by default, or any runner through
  ``pipeline_args``) writing ``beam.io.WriteToTFRecord`` shards per split; per-item summaries go to
  a side output that the driver folds into the same :class:`Summary` as the local runner.

* Dask runner (:mod:`pipelines.dask_runner`): the same ``process`` on a dask.distributed cluster,
  results consumed in input order and written here by the same writer as the local runner, so its
  shards equal the local runner's byte for byte.

All write ``manifest.json`` through :func:`write_manifest`.
"""
from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import datetime
import glob
import importlib.metadata
import json
import multiprocessing
import os
import platform
import sys
import time
import uuid
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Iterable, Iterator, Optional

from musicgen.datasets import tfrecord

VERSIONED_PACKAGES = ("musicgen", "note-seq", "numba", "protobuf", "numpy", "tensorflow-cpu",
                      "tensorflow", "keras", "apache-beam", "tensorflow-datasets", "absl-py")


@dataclasses.dataclass
class Result:
    """What processing one item gave: serialized records for ``split``, or a skip (path, reason).

    ``group`` optionally names the job input the item came from (convert_midi: the collection), so
    that the manifest can count per input too.
    """

    split: str
    records: list = dataclasses.field(default_factory=list)
    skip: Optional[tuple] = None
    stats: dict = dataclasses.field(default_factory=dict)
    group: Optional[str] = None
    altered: Optional[tuple] = None  # (path, {reason: count}): what was dropped / changed

    def summary(self) -> dict:
        """JSON-able summary without the records (what the Beam runner sends to the manifest)."""
        return {"split": self.split, "n": len(self.records),
                "skip": list(self.skip) if self.skip else None, "stats": self.stats,
                "group": self.group, "altered": list(self.altered) if self.altered else None}


@dataclasses.dataclass
class Job:
    """A batch job: ``process`` maps one item to a Result (must be picklable: top-level/partial)."""

    name: str
    process: Callable[[Any], Result]
    item_split: Callable[[Any], str]
    item_name: Callable[[Any], str]
    unit: str = "file"  # progress-bar unit
    item_group: Optional[Callable[[Any], Optional[str]]] = None  # see Result.group


class Summary:
    """Counts per split, items per split, skips and summed stats ("max_*" stats keep the maximum);
    ``groups``: the same counts per Result.group (only for results that name one)."""

    def __init__(self, splits: Iterable[str] = ()):
        self.counts = collections.Counter({s: 0 for s in splits})
        self.items = collections.Counter()
        self.skipped = []
        self.altered = []
        self.stats = {}
        self.groups = {}

    def group(self, name: str) -> dict:
        """Per-group counters: {"counts": Counter, "items": Counter, "num_skipped": int}."""
        return self.groups.setdefault(name, {"counts": collections.Counter(),
                                             "items": collections.Counter(), "num_skipped": 0})

    def add(self, summary: dict) -> None:
        self.counts[summary["split"]] += summary["n"]
        self.items[summary["split"]] += 1
        group = summary.get("group")
        if group is not None:
            self.group(group)["counts"][summary["split"]] += summary["n"]
            self.group(group)["items"][summary["split"]] += 1
        if summary["skip"]:
            self.add_skip(*summary["skip"], group=group)
        if summary.get("altered"):
            path, changes = summary["altered"]
            self.altered.append({"path": path, "changes": dict(sorted(changes.items()))})
        for key, value in summary["stats"].items():
            if key.startswith("max_"):
                self.stats[key] = max(self.stats.get(key, value), value)
            else:
                self.stats[key] = round(self.stats.get(key, 0) + value, 6)

    def add_skip(self, path: str, reason: str, group: Optional[str] = None) -> None:
        entry = {"path": path, "reason": reason}
        if group is not None:
            entry["input"] = group
            self.group(group)["num_skipped"] += 1
        self.skipped.append(entry)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def crash_result(job: Job, item, exitcode: Any = None) -> Result:
    reason = f"worker process died while processing it (exit code {exitcode}); input crashes the parser"
    return Result(job.item_split(item), skip=(job.item_name(item), reason),
                  group=job.item_group(item) if job.item_group else None)


# ---- local runner -------------------------------------------------------------------------------

def _new_pool(num_workers: int):
    return concurrent.futures.ProcessPoolExecutor(
        num_workers, mp_context=multiprocessing.get_context("fork"))


def _process_framed(process: Callable[[Any], Result], items: list) -> list:
    """``process`` over a chunk of items, then TFRecord framing (CRCs) of the records, so that the
    workers, not the writing parent, pay for it."""
    results = [process(item) for item in items]
    for result in results:
        result.records = [tfrecord.frame_record(r) for r in result.records]
    return results


def _isolated(job: Job, item) -> Result:
    """Run one item alone in a fresh process; a crash becomes a skip."""
    with _new_pool(1) as pool:
        try:
            return pool.submit(_process_framed, job.process, [item]).result()[0]
        except BrokenProcessPool:
            return crash_result(job, item, "killed")


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def ordered_results(job: Job, items: Iterable, num_workers: int, chunk_size: int = 4,
                    window: int = 0) -> Iterator[Result]:
    """Framed results of ``job.process`` over ``items``, in input order.

    Items go to the workers in chunks of ``chunk_size`` (less IPC per small file), at most
    ``window`` chunks in flight (default 16 per worker), so memory stays bounded however long
    ``items`` is, while one slow file (e.g. a parser fallback taking seconds) does not idle the
    other workers: they keep going up to the window while the writer waits for it.
    """
    if num_workers <= 1:
        for chunk in _chunks(items, chunk_size):
            yield from _process_framed(job.process, chunk)
        return
    window = window or 16 * num_workers
    pool = _new_pool(num_workers)
    pending = collections.deque()
    try:
        chunks = _chunks(items, chunk_size)
        while True:
            while len(pending) < window:
                chunk = next(chunks, None)
                if chunk is None:
                    break
                pending.append((chunk, pool.submit(_process_framed, job.process, chunk)))
            if not pending:
                return
            chunk, future = pending.popleft()
            try:
                yield from future.result()
            except BrokenProcessPool:
                pool.shutdown(wait=False, cancel_futures=True)
                for broken, _ in [(chunk, future)] + list(pending):
                    for item in broken:
                        yield _isolated(job, item)
                pending.clear()
                pool = _new_pool(num_workers)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_local(job: Job, items: Iterable, output_dir: str, num_shards: dict, num_workers: int,
              total: Optional[int] = None) -> Summary:
    """Process ``items`` with a process pool and write shards for every split in ``num_shards``."""
    return write_results(job, ordered_results(job, items, num_workers), output_dir, num_shards,
                         total, job.name)


def write_results(job: Job, results: Iterable[Result], output_dir: str, num_shards: dict,
                  total: Optional[int], desc: str) -> Summary:
    """Write the records of ``results`` (in order) to shards of every split in ``num_shards`` and
    fold them into a Summary; on any error (or interrupt) the shards in progress are aborted.
    Shared by the local and dask runners: same order in, same bytes out."""
    from tqdm import tqdm
    writers = {s: tfrecord.ShardedWriter(output_dir, s, n) for s, n in sorted(num_shards.items())}
    summary = Summary(num_shards)
    try:
        with tqdm(total=total, desc=desc, unit=job.unit, file=sys.stderr, mininterval=1.0,
                  dynamic_ncols=True) as bar:
            for result in results:
                if result.records and result.split not in writers:
                    raise ValueError(f"{job.name}: records for split {result.split!r} without a writer")
                for record in result.records:
                    writers[result.split].write(record, framed=True)
                summary.add(result.summary())
                bar.update(1)
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    written = [p for w in writers.values() for p in w.close()]
    tfrecord.remove_stale_shards(output_dir, written)
    return summary


# ---- Beam runner --------------------------------------------------------------------------------

def _records_of(result: Result, split: str):
    return result.records if result.split == split else []


def run_beam(job: Job, make_input: Callable, output_dir: str, num_shards: dict,
             pipeline_args: Optional[list] = None) -> Summary:
    """Run ``job`` as an apache_beam pipeline; ``make_input(pipeline)`` returns the item PCollection.

    ``pipeline_args`` go to ``PipelineOptions`` unchanged (e.g. ``--runner=DataflowRunner
    --project=... --region=... --temp_location=gs://...``); default DirectRunner.
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    os.makedirs(output_dir, exist_ok=True)
    summary_prefix = os.path.join(output_dir, f"{tfrecord.TMP_PREFIX}beam-summary-{uuid.uuid4().hex[:8]}")
    options = PipelineOptions(pipeline_args or [])
    with beam.Pipeline(options=options) as pipeline:
        results = make_input(pipeline) | "Process" >> beam.Map(job.process)
        for split, n in sorted(num_shards.items()):
            (results
             | f"Records[{split}]" >> beam.FlatMap(_records_of, split)
             | f"Write[{split}]" >> beam.io.WriteToTFRecord(
                 os.path.join(output_dir, split), num_shards=n,
                 shard_name_template="-SSSSS-of-NNNNN", file_name_suffix=".tfrecord"))
        (results
         | "Summaries" >> beam.Map(lambda r: json.dumps(r.summary()))
         | "WriteSummaries" >> beam.io.WriteToText(summary_prefix, file_name_suffix=".jsonl"))
    summary = Summary(num_shards)
    for path in sorted(glob.glob(summary_prefix + "*")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                summary.add(json.loads(line))
        os.remove(path)
    written = [os.path.join(output_dir, tfrecord.shard_name(s, i, n))
               for s, n in num_shards.items() for i in range(n)]
    tfrecord.remove_stale_shards(output_dir, written)
    return summary


def create_input(items: list) -> Callable:
    """A ``make_input`` for :func:`run_beam` that starts from an in-memory list of small items."""
    import apache_beam as beam
    return lambda pipeline: pipeline | "Create" >> beam.Create(items)


# ---- CLI flags shared by the jobs -------------------------------------------------------------------

def define_job_flags(output_help: str) -> None:
    """Define --output_dir, --runner, --num_workers, --num_shards, --pipeline_options (CLI mains only)."""
    from absl import flags
    flags.DEFINE_string("output_dir", None, output_help)
    flags.DEFINE_enum("runner", "local", ["local", "beam", "dask"],
                      "local: process pool on this machine; beam: an Apache Beam pipeline; dask: a "
                      "dask.distributed cluster (--scheduler), shards written by this process.")
    flags.DEFINE_integer("num_workers", None, "Local runner processes (default: os.cpu_count()); "
                         "--runner=dask without --scheduler: processes of its local cluster.")
    flags.DEFINE_string("scheduler", "", "--runner=dask: scheduler address (tcp://HOST:8786) or "
                        "scheduler JSON file; empty: a local cluster of --num_workers processes.")
    flags.DEFINE_integer("num_shards", 0, "Output shards per split (0: automatic).")
    flags.DEFINE_string("pipeline_options", "", "Beam pipeline options passed through unchanged, e.g. "
                        "\"--runner=DataflowRunner --project=P --region=R --temp_location=gs://B/tmp\".")


def cli_exit_code(run_job: Callable[[], dict]) -> int:
    """Run a job for a CLI main: bad arguments/inputs -> 2 (logged), the cluster lost mid-job -> 3
    (logged, nothing written), nothing written -> 1, else 0."""
    from absl import logging
    try:
        manifest = run_job()
    except (ValueError, FileNotFoundError) as e:
        logging.error("%s", e)
        return 2
    except RuntimeError as e:
        if type(e).__name__ != "ClusterLost":
            raise
        logging.error("%s", e)
        return 3
    print(report_line(manifest), file=sys.stderr)
    return 0 if manifest["total"] else 1


# ---- manifest -----------------------------------------------------------------------------------

def library_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def write_manifest(output_dir: str, job: str, summary: Summary, arguments: dict, runner: str,
                   seconds: float, extra: Optional[dict] = None) -> dict:
    """Write ``manifest.json`` atomically and return it."""
    manifest = {
        "job": job,
        "runner": runner,
        "counts": dict(sorted(summary.counts.items())),
        "inputs_per_split": dict(sorted(summary.items.items())),
        "total": summary.total,
        "num_skipped": len(summary.skipped),
        "skipped": sorted(summary.skipped, key=lambda s: s["path"]),
        "num_altered": len(summary.altered),
        "altered": sorted(summary.altered, key=lambda s: s["path"]),
        "stats": summary.stats,
        "shards": sorted(os.path.basename(p) for p in glob.glob(os.path.join(output_dir, "*.tfrecord"))),
        "arguments": arguments,
        "versions": library_versions(),
        "timing": {"finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                   "seconds": round(seconds, 3),
                   "items_per_second": round(sum(summary.items.values()) / seconds, 2) if seconds else None,
                   "cpu_count": os.cpu_count()},
    }
    manifest.update(extra or {})
    write_json(os.path.join(output_dir, "manifest.json"), manifest)
    return manifest


def report_line(manifest: dict) -> str:
    """One-line human summary of a manifest (printed by the CLIs), plus a line per input when a job
    had several."""
    counts = ", ".join(f"{k}={v}" for k, v in manifest["counts"].items())
    counts = counts if manifest["total"] else "nothing"
    line = (f"{manifest['job']}: wrote {counts}; skipped {manifest['num_skipped']} "
            f"in {manifest['timing']['seconds']:.1f} s (see manifest.json)")
    inputs = manifest.get("inputs") or []
    if len(inputs) > 1:  # one line per input of a multi-input job
        for i in inputs:
            per = ", ".join(f"{k}={v}" for k, v in i["counts"].items()) or "nothing"
            line += f"\n  {i['name']} ({i['dataset']}): {per}; skipped {i['num_skipped']}"
    return line


def write_json(path: str, obj) -> None:
    """Write JSON atomically (temp file + fsync + rename)."""
    tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def run(job: Job, items: Iterable, output_dir: str, num_shards: dict, runner: str = "local",
        num_workers: Optional[int] = None, total: Optional[int] = None, make_beam_input=None,
        pipeline_args: Optional[list] = None, scheduler: Optional[str] = None) -> tuple:
    """Dispatch to the local, Beam or Dask runner; returns (summary, seconds)."""
    start = time.perf_counter()
    if runner == "local":
        summary = run_local(job, items, output_dir, num_shards, num_workers or os.cpu_count() or 1,
                            total=total)
    elif runner == "beam":
        if make_beam_input is None:
            make_beam_input = create_input(list(items))
        summary = run_beam(job, make_beam_input, output_dir, num_shards, pipeline_args)
    elif runner == "dask":
        from pipelines import dask_runner
        summary = dask_runner.run_dask(job, items, output_dir, num_shards, scheduler,
                                       num_workers or os.cpu_count() or 1, total=total)
    else:
        raise ValueError(f"--runner must be 'local', 'beam' or 'dask', got {runner!r}")
    return summary, time.perf_counter() - start
