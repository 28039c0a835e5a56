"""musicgen.train + musicgen.checkpoints on the real Groove fixtures (tests/data/groove, CC BY 4.0),
converted to NoteSequence shards in the test, with a tiny groovae_4bar."""
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from conftest import ROOT, TEST_DATA
from musicgen import checkpoints, midi_io, train
from musicgen.datasets import input as input_lib
from musicgen.datasets.tfrecord import ShardedWriter, iterate_note_sequences

CONFIG = "groovae_4bar"
TINY = "batch_size=4,enc_rnn_size=[16],dec_rnn_size=[16],z_size=8"


@pytest.fixture(scope="module")
def groove_ns_dir(tmp_path_factory):
    """All five Groove fixture files as `train` and `validation` NoteSequence shards."""
    out = tmp_path_factory.mktemp("groove_ns")
    files = sorted(glob.glob(os.path.join(TEST_DATA, "groove", "**", "*.mid"), recursive=True))
    assert len(files) == 5
    sequences = [midi_io.midi_file_to_note_sequence(f) for f in files]
    for split in ("train", "validation"):
        with ShardedWriter(str(out), split, num_shards=1) as w:
            for ns in sequences:
                w.write(ns.SerializeToString())
    return str(out)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, groove_ns_dir):
    """A run dir trained 3 steps (checkpoints at steps 2 and 3)."""
    run_dir = str(tmp_path_factory.mktemp("runs") / "base")
    step = train.train(CONFIG, run_dir, num_steps=3, hparams_str=TINY,
                       input_kwargs={"dataset_dir": groove_ns_dir, "seed": 0},
                       save_checkpoint_steps=2, log_every=1, progress=False)
    assert step == 3
    return run_dir


def copy_run(src, tmp_path):
    dst = str(tmp_path / "run")
    shutil.copytree(src, dst)
    return dst


def optimizer_iterations(prefix):
    import h5py
    with h5py.File(prefix + checkpoints.WEIGHTS_SUFFIX) as f:
        return int(f["optimizer/vars/0"][()])  # the optimizer's first variable: its iterations


def test_checkpoints_written_and_pruned(trained_run):
    names = sorted(os.listdir(os.path.join(trained_run, "checkpoints")))
    assert names == [f"ckpt-0000000{s}{suffix}" for s in (2, 3)
                     for suffix in (".json", ".weights.h5")]
    pointer = json.load(open(os.path.join(trained_run, "checkpoint.json")))
    assert pointer["latest"] == "ckpt-00000003" and pointer["config"] == CONFIG
    assert pointer["hparams"] == TINY
    prefix = checkpoints.latest_checkpoint(trained_run)
    assert checkpoints.read_metadata(prefix)["step"] == 3
    assert optimizer_iterations(prefix) == 3
    tags = {}
    import tensorflow as tf
    for path in glob.glob(os.path.join(trained_run, "train", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                assert v.metadata.plugin_data.plugin_name == "scalars"
                tags.setdefault(v.tag, []).append(event.step)
    for tag in ("loss", "recon_loss", "kl_bits", "beta", "learning_rate", "accuracy"):
        assert tags.get(tag) == [1, 2, 3], (tag, tags)


def test_resume_continues_from_saved_step(trained_run, tmp_path, groove_ns_dir):
    run_dir = copy_run(trained_run, tmp_path)
    _, before = checkpoints.load_for_inference(run_dir)
    step = train.train(CONFIG, run_dir, num_steps=5, hparams_str=TINY,
                       input_kwargs={"dataset_dir": groove_ns_dir}, checkpoints_to_keep=2,
                       log_every=1, progress=False)
    assert step == 5
    prefix = checkpoints.latest_checkpoint(run_dir)
    assert prefix.endswith("ckpt-00000005")
    # Resumed, not restarted: the optimizer counted 3 + 2 steps and the model's own step too.
    assert optimizer_iterations(prefix) == 5
    _, after = checkpoints.load_for_inference(run_dir)
    assert int(after.global_step.numpy()) == 5
    moved = [np.abs(a - b).max() for a, b in zip(after.get_weights(), before.get_weights())]
    assert max(moved) > 0
    # Asking for fewer steps than reached does nothing.
    assert train.train(CONFIG, run_dir, num_steps=4, hparams_str=TINY,
                       input_kwargs={"dataset_dir": groove_ns_dir}, progress=False) == 5


def test_resume_refuses_other_hparams(trained_run, groove_ns_dir):
    with pytest.raises(ValueError, match="use a new --run_dir"):
        train.train(CONFIG, trained_run, num_steps=9, hparams_str=TINY + ",z_size=4",
                    input_kwargs={"dataset_dir": groove_ns_dir}, progress=False)


def test_nan_batch_stops_and_keeps_last_good_checkpoint(trained_run, tmp_path, groove_ns_dir):
    run_dir = copy_run(trained_run, tmp_path)
    config, _ = checkpoints.build_model_for(CONFIG, TINY, build=False)
    good = list(input_lib.convert_note_sequences(
        iterate_note_sequences(os.path.join(groove_ns_dir, "train-*")), config, is_training=False))
    poisoned = [(np.full_like(x, np.nan), y, c, n) for x, y, c, n in good]
    input_lib.write_examples(str(tmp_path / "ex" / "train-00000-of-00001.tfrecord"), poisoned)
    before = open(checkpoints.latest_checkpoint(run_dir) + ".weights.h5", "rb").read()
    with pytest.raises(train.NonFiniteLossError, match=r"step 4: .*ckpt-00000003"):
        train.train(CONFIG, run_dir, num_steps=10, hparams_str=TINY,
                    input_kwargs={"examples_path": str(tmp_path / "ex")}, progress=False)
    prefix = checkpoints.latest_checkpoint(run_dir)
    assert prefix.endswith("ckpt-00000003")
    assert open(prefix + ".weights.h5", "rb").read() == before
    assert len(glob.glob(os.path.join(run_dir, "checkpoints", "*.weights.h5"))) == 2


def test_eval_mode_writes_metrics(trained_run, tmp_path, groove_ns_dir):
    run_dir = copy_run(trained_run, tmp_path)
    report = train.evaluate(run_dir, "validation", input_kwargs={"dataset_dir": groove_ns_dir},
                            batch_size=64)
    saved = json.load(open(os.path.join(run_dir, "eval", "eval_metrics.json")))
    assert saved == json.loads(json.dumps(report, default=str))
    assert report["checkpoint_step"] == 3 and report["split"] == "validation"
    # Windows of the fixtures: 4/4 files only (3/4 and 5/8 give none with 16-step bars).
    config, _ = checkpoints.build_model_for(CONFIG, TINY, build=False)
    expected = sum(1 for _ in input_lib.convert_note_sequences(
        iterate_note_sequences(os.path.join(groove_ns_dir, "validation-*")), config, False))
    trained = report["results"]["trained"]
    assert trained["num_sequences"] == expected > 0
    for section in ("teacher_forced", "sampled"):
        for k in ("accuracy", "hit_precision", "hit_recall", "hit_f1"):
            assert 0.0 <= trained[section][k] <= 1.0, (section, k)
    assert set(report["results"]) == {"trained", "all-zero output", "untrained"}
    assert os.listdir(os.path.join(run_dir, "eval"))


def test_eval_mode_and_evaluate_cli_are_one_evaluator(trained_run, tmp_path, groove_ns_dir):
    """train --mode=eval and python -m musicgen.evaluate give the same numbers and table."""
    from absl import flags

    from musicgen import evaluate
    run_dir = copy_run(trained_run, tmp_path)
    via_train = train.evaluate(run_dir, "validation", input_kwargs={"dataset_dir": groove_ns_dir},
                               batch_size=64)
    fv = evaluate.define_flags(flags.FlagValues())
    fv(["evaluate", f"--checkpoint={run_dir}", f"--dataset_dir={groove_ns_dir}",
        "--split=validation", f"--output_json={tmp_path / 'e.json'}"])
    via_cli = evaluate.run(fv)
    assert via_cli["results"] == via_train["results"]
    assert via_cli["table"] == via_train["table"]


def test_export_float16_and_load_for_inference(trained_run, tmp_path):
    _, model = checkpoints.load_for_inference(trained_run)
    path = train.export(trained_run, str(tmp_path / "groovae_tiny"))
    import h5py
    with h5py.File(path) as f:
        dtypes = set()
        f.visititems(lambda n, o: dtypes.add(o.dtype.name) if isinstance(o, h5py.Dataset) else None)
    assert "float16" in dtypes and "float32" not in dtypes
    meta = json.load(open(str(tmp_path / "groovae_tiny.json")))
    assert meta == {"config": CONFIG, "hparams": TINY, "dtype": "float16", "step": 3,
                    "source_checkpoint": "ckpt-00000003"}
    config, loaded = checkpoints.load_for_inference(path)
    assert config.hparams.z_size == 8
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b.astype(np.float16).astype(b.dtype), rtol=0, atol=0)


def test_warm_start_from_an_export_continues_its_step(trained_run, tmp_path, groove_ns_dir):
    export = train.export(trained_run, str(tmp_path / "exported"))
    _, source = checkpoints.load_for_inference(export)
    # Directly: weights copied, step continued, optimizer moments fresh.
    _, model = checkpoints.build_model_for(CONFIG, TINY, compile=True)
    assert checkpoints.warm_start(export, model, model.optimizer) == 3
    assert int(model.global_step.numpy()) == 3 and int(model.optimizer.iterations.numpy()) == 3
    for a, b in zip(model.get_weights(), source.get_weights()):
        np.testing.assert_array_equal(a, b)
    # Through train(): a new run dir starts at the export's step and trains on to num_steps.
    run_dir = str(tmp_path / "warm")
    assert train.train(CONFIG, run_dir, num_steps=5, hparams_str=TINY,
                       input_kwargs={"dataset_dir": groove_ns_dir}, log_every=1, progress=False,
                       init_checkpoint=export) == 5
    prefix = checkpoints.latest_checkpoint(run_dir)
    assert prefix.endswith("ckpt-00000005") and optimizer_iterations(prefix) == 5
    args = json.load(open(os.path.join(run_dir, "train_args.json")))
    assert args["init_checkpoint"] == export
    # Once the run dir has a checkpoint, it resumes from it and ignores init_checkpoint.
    assert train.train(CONFIG, run_dir, num_steps=6, hparams_str=TINY,
                       input_kwargs={"dataset_dir": groove_ns_dir}, progress=False,
                       init_checkpoint=export) == 6


def test_warm_start_with_other_hparams_names_the_variable(trained_run):
    _, model = checkpoints.build_model_for(CONFIG, TINY.replace("z_size=8", "z_size=4"),
                                           compile=True)
    with pytest.raises(ValueError, match=r"init_checkpoint=.*has shape"):
        checkpoints.warm_start(trained_run, model, model.optimizer)


def test_unknown_config_and_hparam_list_valid_names():
    with pytest.raises(ValueError, match="groovae_4bar"):
        checkpoints.get_config("groovae_5bar")
    with pytest.raises(ValueError, match="batch_size"):
        checkpoints.get_config(CONFIG, "batch_sise=4")


def test_sigterm_saves_and_stops(tmp_path, groove_ns_dir):
    """SIGTERM during training (here from a thread, once the step-2 checkpoint exists): the loop
    stops after the current step and saves it."""
    run_dir = str(tmp_path / "run")
    pointer = os.path.join(run_dir, "checkpoint.json")

    def kill_after_first_checkpoint():
        deadline = time.time() + 120
        while not os.path.exists(pointer) and time.time() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=kill_after_first_checkpoint, daemon=True)
    killer.start()
    step = train.train(CONFIG, run_dir, num_steps=100000, hparams_str=TINY,
                       input_kwargs={"dataset_dir": groove_ns_dir}, save_checkpoint_steps=2,
                       log_every=1, progress=False)
    killer.join()
    assert 2 <= step < 100000
    assert checkpoints.read_metadata(checkpoints.latest_checkpoint(run_dir))["step"] == step


def test_cli_sigterm_exit_code_and_checkpoint(tmp_path, groove_ns_dir):
    """The real CLI in a subprocess: flags parsed, SIGTERM mid-run -> exit 0 and a saved step.

    Runs MirroredStrategy over 2 logical CPU devices (--cpu_replicas=2), the multi-GPU code path.
    """
    run_dir = str(tmp_path / "cli_run")
    cmd = [sys.executable, "-m", "musicgen.train", f"--config={CONFIG}", f"--run_dir={run_dir}",
           f"--dataset_dir={groove_ns_dir}", f"--hparams={TINY}", "--save_checkpoint_steps=1000",
           "--log_every=1", "--num_steps=100000", "--cpu_replicas=2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log, deadline = [], time.time() + 180
    for line in proc.stdout:  # wait for two training steps
        log.append(line)
        if "step 2/100000" in line or time.time() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=120)
    log = "".join(log) + rest
    assert proc.returncode == 0, log[-2000:]
    saved = checkpoints.read_metadata(checkpoints.latest_checkpoint(run_dir))["step"]
    assert saved >= 2 and f"step {saved}/100000" in log, log[-2000:]
    assert "signal 15 received" in log
    assert json.load(open(os.path.join(run_dir, "train_args.json")))["replicas"] == 2


def test_only_the_chief_writes_in_a_multi_worker_cluster():
    import tensorflow as tf
    from tensorflow.python.distribute.cluster_resolver import SimpleClusterResolver

    class Strategy:  # the one attribute is_chief reads from a MultiWorkerMirroredStrategy
        def __init__(self, cluster, task_type, task_id):
            self.cluster_resolver = SimpleClusterResolver(tf.train.ClusterSpec(cluster),
                                                          task_type=task_type, task_id=task_id)

    assert train.is_chief(tf.distribute.get_strategy())
    workers = {"worker": ["h0:1", "h1:1"]}
    assert [train.is_chief(Strategy(workers, "worker", i)) for i in (0, 1)] == [True, False]
    with_chief = dict(workers, chief=["c:1"])
    assert train.is_chief(Strategy(with_chief, "chief", 0))
    assert not train.is_chief(Strategy(with_chief, "worker", 0))


def _free_ports(n):
    import socket
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_multi_worker_cluster_on_localhost(tmp_path, groove_ns_dir):
    """Two real worker processes under TF_CONFIG (MultiWorkerMirroredStrategy over loopback gRPC):
    both run the same synchronised steps, and only the chief writes the shared run dir."""
    run_dir = str(tmp_path / "run")
    workers = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for index in (0, 1):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "musicgen.train", f"--config={CONFIG}", f"--run_dir={run_dir}",
             f"--dataset_dir={groove_ns_dir}", "--num_steps=3", f"--hparams={TINY}",
             "--log_every=1", "--noprogress", "--seed=0"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=240)
            logs.append(out)
            assert p.returncode == 0, out[-3000:]
    finally:
        for p in procs:
            p.kill()
    lines = [[l.split("] ", 1)[1].split(" | ")[:3] for l in log.splitlines() if "] step " in l]
             for log in logs]
    assert [l[0] for l in lines[0]] == ["step 1/3", "step 2/3", "step 3/3"]
    assert lines[0] == lines[1]  # the same averaged losses: the replicas are in sync
    assert "saved" in logs[0] and "saved" not in logs[1]
    assert checkpoints.latest_checkpoint(run_dir).endswith("ckpt-00000003")
    assert json.load(open(os.path.join(run_dir, "train_args.json")))["replicas"] == 2


_REPLICA_SCRIPT = r"""
import sys, numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, "tests")
from model_helpers import random_batch, tiny_config
cfg = tiny_config("groovae_4bar")
conv = cfg.data_converter
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = cfg.model(cfg.hparams, conv.output_depth, conv.input_depth, conv.control_depth)
batch = {k: tf.constant(v) for k, v in random_batch(cfg, batch_size=2).items()}

@tf.function
def fn():
    y_pred = model(batch, training=False)
    return y_pred["loss"], model.compute_loss(y_pred=y_pred)

per_replica = strategy.run(fn)  # (each replica gets the same batch: only the ratio matters)
for loss, scaled in zip(*(strategy.experimental_local_results(t) for t in per_replica)):
    print("RATIO", float(scaled) / float(loss))
"""


def test_loss_is_divided_by_the_replica_count_under_mirrored_strategy():
    """Keras sums the replicas' gradients, so each replica's loss must be divided by the replica
    count (else 2 GPUs take a step twice as long as 1 before clipping)."""
    proc = subprocess.run([sys.executable, "-c", _REPLICA_SCRIPT], cwd=ROOT, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                          timeout=300)
    ratios = [float(line.split()[1]) for line in proc.stdout.splitlines()
              if line.startswith("RATIO")]
    assert proc.returncode == 0 and len(ratios) == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert ratios == [pytest.approx(0.5), pytest.approx(0.5)]


def test_train_inputs_are_checked_naming_the_flag(tmp_path):
    from musicgen.train import check_train_inputs
    run = str(tmp_path / "run")
    with pytest.raises(ValueError, match="no training data given: pass --dataset_dir"):
        check_train_inputs("groovae_4bar", "", run, {})
    with pytest.raises(ValueError, match="--dataset_dir=/nonexistent: no such file or directory"):
        check_train_inputs("groovae_4bar", "", run, {"dataset_dir": "/nonexistent"})
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="--dataset_dir=.*empty: no train shards .*holds: nothing"):
        check_train_inputs("groovae_4bar", "", run, {"dataset_dir": str(tmp_path / "empty")})
    shards = tmp_path / "all_split"
    shards.mkdir()
    (shards / "all-00000-of-00001.tfrecord").write_bytes(b"")
    with pytest.raises(ValueError, match="holds: all-00000-of-00001.tfrecord"):
        check_train_inputs("groovae_4bar", "", run, {"examples_path": str(shards)})
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    (shards / "train-00000-of-00001.tfrecord").write_bytes(b"")
    with pytest.raises(ValueError, match="--run_dir=.*a_file/run: cannot write there"):
        check_train_inputs("groovae_4bar", "", str(blocker / "run"), {"dataset_dir": str(shards)})
    check_train_inputs("groovae_4bar", "", run, {"dataset_dir": str(shards)})  # all fine


def test_train_cli_without_data_is_one_error_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "musicgen.train", "--config=groovae_4bar",
                           f"--run_dir={tmp_path / 'r'}"], cwd=ROOT, text=True,
                          capture_output=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 1
    assert "no training data given: pass --dataset_dir" in proc.stderr
    assert "Traceback" not in proc.stderr
