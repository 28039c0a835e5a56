"""Dask runner of the batch jobs: the same per-item ``job.process`` on a dask.distributed cluster.

The driver (this process) lists the items, submits them in chunks to the cluster with a bounded
number of chunks in flight, takes the framed results back **in input order** and writes the shards
itself with the same :class:`~musicgen.datasets.tfrecord.ShardedWriter` as the local runner, so the
shards and manifest are byte-identical to ``--runner=local`` by construction (only ``runner`` and
timing differ in the manifest). Workers only read inputs; only the driver writes.

Faults:

* A worker that dies (killed, OOM, crash) loses its tasks; the scheduler reruns them on the other
  workers (and on the worker the nanny restarts). Output is unchanged.
* A chunk that the scheduler gives up on (``KilledWorker``: it was on
  ``distributed.scheduler.allowed-failures`` + 1 workers that died) is re-run one item at a time;
  the item that still kills its worker when it runs alone is recorded as skipped with
  :data:`KILLED_REASON` (the local runner does the same for a file that kills its process).
* Losing the scheduler, or having no worker for ``no_worker_timeout`` seconds, fails the job with
  :class:`ClusterLost` naming how many items were done and what was not; the shards being written
  are aborted (temporary dot-files only), so a failed job never leaves a partial dataset and a
  re-run writes the whole output.
"""
from __future__ import annotations

import collections
import sys
import time
from typing import Iterable, Optional

from pipelines import runner as runner_lib

KILLED_REASON = "dask worker died processing this file (KilledWorker: it killed every worker it ran on)"
NO_WORKER_TIMEOUT = 120.0


class ClusterLost(RuntimeError):
    """The cluster went away mid-job (scheduler unreachable, or no worker for too long)."""


def _import_distributed():
    try:
        import distributed
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ValueError("--runner=dask needs dask.distributed: pip install 'musicgen[dask]'") from e
    return distributed


def connect(scheduler: Optional[str], num_workers: int):
    """(client, cluster_or_None): a Client of ``scheduler`` (tcp://HOST:PORT, or a scheduler JSON
    file), or, when ``scheduler`` is empty, of a new loopback LocalCluster of ``num_workers``
    single-threaded worker processes (closed with the client)."""
    distributed = _import_distributed()
    if scheduler:
        if scheduler.endswith(".json"):
            return distributed.Client(scheduler_file=scheduler, timeout=30), None
        return distributed.Client(scheduler, timeout=30), None
    cluster = distributed.LocalCluster(n_workers=num_workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, host="127.0.0.1")
    return distributed.Client(cluster), cluster


class _Driver:
    """Submits chunks and yields their framed results in input order."""

    def __init__(self, client, job: runner_lib.Job, chunk_size: int, window: int,
                 no_worker_timeout: float):
        self.client, self.job, self.chunk_size = client, job, chunk_size
        self.window, self.no_worker_timeout = window, no_worker_timeout
        self.done = 0
        self.distributed = _import_distributed()

    def _submit(self, chunk: list):
        return self.client.submit(runner_lib._process_framed, self.job.process, chunk, pure=False)

    def _lost(self, why: str, chunk: list, pending) -> ClusterLost:
        left = len(chunk) + sum(len(c) for c, _ in pending)
        return ClusterLost(f"{self.job.name}: {why}; {self.done} items were processed, {left} in flight "
                           f"(first not done: {self.job.item_name(chunk[0])}) and the rest never "
                           "started: no shard was written (re-run the job)")

    def _wait(self, future, chunk: list, pending) -> list:
        """future.result(), watching the cluster: raises KilledWorker (for the caller) or ClusterLost."""
        distributed = self.distributed
        no_workers_since = None
        while True:
            try:
                return future.result(timeout=min(5.0, max(0.5, self.no_worker_timeout / 4)))
            except distributed.TimeoutError:
                pass
            except distributed.KilledWorker:
                raise
            except Exception as e:  # noqa: BLE001
                if future.status == "error":  # the task itself raised: not a cluster problem
                    raise
                # CommClosedError / OSError / CancelledError: the client lost the scheduler
                raise self._lost(f"lost the dask scheduler or the work ({type(e).__name__}: {e})",
                                 chunk, pending) from e
            try:
                workers = self.client.nthreads()
            except Exception as e:  # noqa: BLE001
                raise self._lost(f"lost the dask scheduler ({type(e).__name__}: {e})", chunk,
                                 pending) from e
            if workers:
                no_workers_since = None
            else:
                no_workers_since = no_workers_since or time.monotonic()
                if time.monotonic() - no_workers_since > self.no_worker_timeout:
                    raise self._lost(f"no dask worker for {self.no_worker_timeout:.0f} s", chunk, pending)

    def _isolated(self, chunk: list, pending) -> list:
        """A chunk the scheduler gave up on: each item alone; one that still kills its worker is a
        skip."""
        results = []
        for item in chunk:
            try:
                results += self._wait(self._submit([item]), [item], pending)
            except self.distributed.KilledWorker:
                results.append(runner_lib.Result(
                    self.job.item_split(item), skip=(self.job.item_name(item), KILLED_REASON),
                    group=self.job.item_group(item) if self.job.item_group else None))
        return results

    def results(self, items: Iterable):
        pending = collections.deque()
        chunks = runner_lib._chunks(items, self.chunk_size)
        while True:
            while len(pending) < self.window:
                chunk = next(chunks, None)
                if chunk is None:
                    break
                pending.append((chunk, self._submit(chunk)))
            if not pending:
                return
            chunk, future = pending.popleft()
            try:
                results = self._wait(future, chunk, pending)
            except self.distributed.KilledWorker:
                results = self._isolated(chunk, pending)
            self.done += len(chunk)
            yield from results


def run_dask(job: runner_lib.Job, items: Iterable, output_dir: str, num_shards: dict,
             scheduler: Optional[str] = None, num_workers: int = 2, total: Optional[int] = None,
             chunk_size: int = 4, window: int = 0,
             no_worker_timeout: float = NO_WORKER_TIMEOUT) -> runner_lib.Summary:
    """Process ``items`` on a dask.distributed cluster and write shards here, in input order.

    ``scheduler``: address (``tcp://HOST:8786``) or scheduler file of a running cluster; empty: a
    loopback LocalCluster of ``num_workers`` processes for this job. ``window``: chunks in flight
    (default 16 per worker thread). Inputs must be readable at the same path on every worker.
    """
    try:
        client, cluster = connect(scheduler, num_workers)
    except OSError as e:  # unreachable scheduler (distributed raises OSError on connect timeout)
        raise ClusterLost(f"{job.name}: cannot reach the dask scheduler {scheduler!r} ({e}); nothing "
                          "was written") from e
    try:
        try:
            client.wait_for_workers(1, timeout=no_worker_timeout)
        except TimeoutError as e:
            raise ClusterLost(f"{job.name}: no dask worker joined {scheduler or 'the local cluster'} "
                              f"within {no_worker_timeout:.0f} s; nothing was written") from e
        if not window:
            window = 16 * max(1, sum(client.nthreads().values()))
        driver = _Driver(client, job, chunk_size, window, no_worker_timeout)
        return runner_lib.write_results(job, driver.results(items), output_dir, num_shards, total,
                                        f"{job.name} (dask)")
    finally:
        try:
            client.close(timeout=10)
        except Exception:  # noqa: BLE001 - the scheduler may be gone already
            pass
        if cluster is not None:
            cluster.close(timeout=30)
