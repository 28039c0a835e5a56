"""--runner=dask: the conversion job on a real dask.distributed cluster (loopback, started and stopped
here as `dask scheduler` / `dask worker` processes): same shards and manifest as the local runner,
a worker killed mid-job, a file that kills every worker, the cluster lost mid-job, re-runs."""
import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from conftest import ROOT, TEST_DATA

import pipeline_testlib as lib
from pipelines import convert_midi
from pipelines import runner as runner_lib

import distributed  # noqa: E402  (make setup installs the [dask] extra: a missing one fails, not skips)
from pipelines import dask_runner  # noqa: E402
from pipelines.loopback_cluster import LoopbackCluster  # noqa: E402

# manifest keys that name the runner or the moment, not the output
VOLATILE = ("runner", "timing", "versions", "arguments")


def _shard_bytes(out):
    return {os.path.basename(p): open(p, "rb").read()
            for p in sorted(glob.glob(os.path.join(out, "*.tfrecord")))}


def _same_manifest(a, b):
    strip = lambda m: {k: v for k, v in m.items() if k not in VOLATILE}  # noqa: E731
    assert strip(a) == strip(b)


@pytest.fixture(scope="module")
def cluster():
    """A scheduler and 2 single-threaded worker processes (under one nanny each), loopback only.

    allowed-failures=0 (default 3) keeps the fault tests short: a task whose worker dies is given up
    on at once (KilledWorker), so a killed worker also exercises the one-item-at-a-time re-run."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests")]),
               DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0",
               DASK_DISTRIBUTED__WORKER__DAEMON="False")
    with LoopbackCluster(tempfile.mkdtemp(prefix="dask-test-"), env=env, timeout=30) as address:
        yield address


def test_groove_maestro_bad_files_equal_the_local_runner(tmp_path, cluster):
    groove = os.path.join(TEST_DATA, "groove")  # 5 real Groove files
    maestro = lib.make_maestro_dir(str(tmp_path / "maestro"))
    bad = str(tmp_path / "bad")
    expected = lib.write_bad_files(bad)
    lib.write_piano_midi(os.path.join(bad, "good.mid"), 5)
    cases = [("groove", groove, {}), ("maestro", maestro, {}), ("dir", bad, {"split_by": "none"})]
    for dataset, folder, options in cases:
        local = convert_midi.convert(str(tmp_path / f"{dataset}-local"), dataset, folder,
                                     num_workers=2, **options)
        remote = convert_midi.convert(str(tmp_path / f"{dataset}-dask"), dataset, folder,
                                      runner="dask", scheduler=cluster, **options)
        assert remote["runner"] == "dask" and remote["arguments"]["scheduler"] == cluster
        _same_manifest(local, remote)
        assert remote["total"] > 0
        assert _shard_bytes(str(tmp_path / f"{dataset}-dask")) == \
            _shard_bytes(str(tmp_path / f"{dataset}-local"))
        # every input accounted for: converted + skipped = found
        found = len(glob.glob(os.path.join(folder, "**", "*.mid*"), recursive=True))
        listed_missing = sum("file is missing" in s["reason"] for s in remote["skipped"])
        assert remote["total"] + remote["num_skipped"] - listed_missing == found, dataset
    reasons = {s["path"]: s["reason"] for s in remote["skipped"]}
    assert set(reasons) == set(expected)


def test_cli_runner_dask(tmp_path, cluster):
    groove = os.path.join(TEST_DATA, "groove")
    out = str(tmp_path / "out")
    proc = subprocess.run([sys.executable, "-m", "pipelines.convert_midi", "--dataset=groove",
                           f"--input_dir={groove}", f"--output_dir={out}", "--runner=dask",
                           f"--scheduler={cluster}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "wrote test=1, train=2, validation=2; skipped 0" in proc.stderr
    local = convert_midi.convert(str(tmp_path / "local"), "groove", groove, num_workers=1)
    assert _shard_bytes(out) == _shard_bytes(str(tmp_path / "local"))
    with open(os.path.join(out, "manifest.json"), encoding="utf-8") as f:
        _same_manifest(local, json.load(f))


# ---- faults (synthetic jobs: the functions are imported by the workers from this module) --------

def _fast(item):
    return runner_lib.Result("train", records=[f"record {item}".encode()])


def _slow(item):
    time.sleep(0.15)
    return _fast(item)


def _die_on_two(item):
    if item == 2:
        os._exit(3)
    return runner_lib.Result("train", records=[bytes([item])])


# Pickled by value: a restarted worker then imports only pipelines.runner, not this test module.
import cloudpickle  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _job(process):
    return runner_lib.Job("t", process, item_split=lambda i: "train", item_name=lambda i: f"item{i}")


def _worker_pids(address):
    with distributed.Client(address, timeout=30) as client:
        client.wait_for_workers(2, timeout=60)
        return client.run(os.getpid)


def test_worker_killed_mid_job_gives_the_same_output(tmp_path, cluster):
    items = list(range(48))
    runner_lib.run_local(_job(_fast), items, str(tmp_path / "local"), {"train": 2}, num_workers=1)
    pid = sorted(_worker_pids(cluster).values())[0]
    outcome = {}

    def job():
        try:
            outcome["summary"] = dask_runner.run_dask(_job(_slow), items, str(tmp_path / "dask"),
                                                      {"train": 2}, scheduler=cluster, chunk_size=2)
        except BaseException as e:  # noqa: BLE001
            outcome["error"] = e

    thread = threading.Thread(target=job)
    thread.start()
    time.sleep(2.0)  # 48 items x 0.15 s on 2 workers: ~3.6 s of work
    assert thread.is_alive(), "the job ended before the kill: not a mid-job kill"
    os.kill(pid, signal.SIGKILL)
    thread.join(120)
    assert "error" not in outcome, outcome.get("error")
    assert outcome["summary"].counts == {"train": 48} and not outcome["summary"].skipped
    assert _shard_bytes(str(tmp_path / "dask")) == _shard_bytes(str(tmp_path / "local"))
    assert pid not in _worker_pids(cluster).values()  # the nanny restarted it


def test_file_that_kills_every_worker_is_a_skip(tmp_path, cluster):
    summary = dask_runner.run_dask(_job(_die_on_two), range(5), str(tmp_path), {"train": 1},
                                   scheduler=cluster)
    assert summary.counts == {"train": 4}
    assert summary.skipped == [{"path": "item2", "reason": dask_runner.KILLED_REASON}]
    local = str(tmp_path / "local")
    runner_lib.run_local(_job(_die_on_two), range(5), local, {"train": 1}, num_workers=2)
    assert _shard_bytes(str(tmp_path)) == _shard_bytes(local)


@pytest.mark.filterwarnings("ignore:Port 8787 is already in use")  # in-process cluster's HTTP server
def test_cluster_lost_mid_job_fails_clearly_then_rerun_is_complete(tmp_path, cluster):
    out = str(tmp_path / "out")
    items = list(range(30))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None, host="127.0.0.1", protocol="tcp") as doomed:
        outcome = {}

        def job():
            try:
                dask_runner.run_dask(_job(_slow), items, out, {"train": 1},
                                     scheduler=doomed.scheduler_address, no_worker_timeout=5)
            except BaseException as e:  # noqa: BLE001
                outcome["error"] = e

        thread = threading.Thread(target=job)
        thread.start()
        time.sleep(1.0)
        assert thread.is_alive()
        for worker in list(doomed.workers.values()):  # every worker gone, none coming back
            doomed.sync(worker.close)
        thread.join(60)
    error = outcome.get("error")
    assert isinstance(error, dask_runner.ClusterLost), repr(error)
    assert "no shard was written" in str(error) and "items were processed" in str(error)
    assert not glob.glob(os.path.join(out, "train-*"))  # no partial dataset
    dask_runner.run_dask(_job(_slow), items, out, {"train": 1}, scheduler=cluster)
    runner_lib.run_local(_job(_fast), items, str(tmp_path / "local"), {"train": 1}, num_workers=1)
    assert _shard_bytes(out) == _shard_bytes(str(tmp_path / "local"))
    assert not [f for f in os.listdir(out) if f.startswith(".")]  # leftovers of the failed run removed
