"""A real dask.distributed cluster on 127.0.0.1, started the way a deployment starts one: a
`dask scheduler` process and a `dask worker --nworkers N --nthreads 1` process (a nanny per
worker), each in its own process group. For the test suite and bench/cluster_convert.py.

    with LoopbackCluster(tmp_dir) as address:
        convert_midi.main([..., "--runner=dask", f"--scheduler={address}"])
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class LoopbackCluster:
    """Scheduler + `nworkers` single-threaded workers; `start()` returns the scheduler address
    once they have registered, `stop()` kills both process groups (workers' children included)."""

    def __init__(self, work_dir: str, nworkers: int = 2, env: Optional[dict] = None,
                 timeout: float = 60.0):
        self._work_dir, self._nworkers, self._timeout = work_dir, nworkers, timeout
        self._env = env
        self._procs, self._log = [], None

    def _spawn(self, args):
        dask = os.path.join(os.path.dirname(sys.executable), "dask")
        self._procs.append(subprocess.Popen([dask, *args], cwd=ROOT, env=self._env,
                                            stdout=self._log, stderr=subprocess.STDOUT,
                                            start_new_session=True))

    def start(self) -> str:
        import distributed
        sched_file = os.path.join(self._work_dir, "scheduler.json")
        self._log = open(os.path.join(self._work_dir, "cluster.log"), "w")
        try:
            self._spawn(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                         "--scheduler-file", sched_file])
            deadline = time.monotonic() + self._timeout
            while not os.path.exists(sched_file):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"dask scheduler wrote no {sched_file}")
                time.sleep(0.05)
            self._spawn(["worker", "--scheduler-file", sched_file, "--nworkers",
                         str(self._nworkers), "--nthreads", "1", "--host", "127.0.0.1",
                         "--no-dashboard"])
            with distributed.Client(scheduler_file=sched_file, timeout=self._timeout) as client:
                client.wait_for_workers(self._nworkers, timeout=2 * self._timeout)
                return client.scheduler.address
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for p in reversed(self._procs):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=30)
        self._procs = []
        if self._log:
            self._log.close()
            self._log = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
