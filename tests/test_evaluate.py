"""musicgen.evaluate: metric arithmetic on hand-made cases."""
import math

import numpy as np
import pytest

from musicgen.evaluate import ReconstructionCounts, kl_bits, step_mask


def _groove(hits, vels, offs):
    return np.concatenate([hits, vels, offs], axis=-1).astype(np.float32)


def test_step_mask_flat_and_hierarchical():
    np.testing.assert_array_equal(step_mask([2, 0], 3), [[1, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(step_mask([[1, 2]], 4), [[1, 1, 1, 0]])


def test_categorical_accuracy_counts_only_valid_steps():
    target = np.eye(4)[[[0, 1, 2, 3]]]            # (1, 4, 4)
    pred = np.eye(4)[[[0, 1, 0, 0]]]              # right, right, wrong, wrong(padding)
    c = ReconstructionCounts()
    c.add_categorical(pred, target, [3])
    assert (c.correct_steps, c.steps) == (2, 3)
    assert c.result(groove=False)["accuracy"] == pytest.approx(2 / 3)


def test_groove_perfect_prediction():
    rng = np.random.default_rng(0)
    hits = (rng.random((2, 8, 3)) > 0.5).astype(np.float32)
    vels = rng.random((2, 8, 3)) * hits
    offs = (rng.random((2, 8, 3)) * 2 - 1) * hits
    target = _groove(hits, vels, offs)
    c = ReconstructionCounts()
    c.add_groove(target, target, [8, 8])
    r = c.result(groove=True)
    assert r["accuracy"] == 1.0 and r["hit_f1"] == 1.0
    assert r["velocity_mae"] == pytest.approx(0.0, abs=1e-5)
    assert r["offset_mae_ms"] == pytest.approx(0.0, abs=1e-4)
    assert r["true_positive_hits"] == int(hits.sum())


def test_groove_hand_counted_case():
    # One sequence, 2 steps, 2 drums; step 2 is padding (length 1) and must be ignored.
    t_hits = np.array([[[1, 1], [1, 1]]])
    t_vels = np.array([[[100 / 127, 50 / 127], [1, 1]]])
    t_offs = np.array([[[0.2, 0.0], [0, 0]]])
    p_hits = np.array([[[0.9, 0.1], [0, 0]]])       # drum 0 hit (TP), drum 1 missed (FN)
    p_vels = np.array([[[110 / 127, 0.0], [0, 0]]])  # |110 - 100| = 10
    p_offs = np.array([[[-0.2, 0.0], [0, 0]]])       # |0.4| * 62.5 ms = 25 ms
    c = ReconstructionCounts()
    c.add_groove(_groove(p_hits, p_vels, p_offs), _groove(t_hits, t_vels, t_offs), [1])
    r = c.result(groove=True)
    assert (c.tp, c.fp, c.fn, c.steps, c.correct_steps) == (1, 0, 1, 1, 0)
    assert r["hit_precision"] == 1.0 and r["hit_recall"] == 0.5
    assert r["hit_f1"] == pytest.approx(2 / 3)
    assert r["velocity_mae"] == pytest.approx(10.0, abs=1e-4)
    assert r["offset_mae_ms"] == pytest.approx(25.0, abs=1e-4)


def test_groove_no_predicted_hits_gives_zero_f1_and_undefined_mae():
    target = _groove(np.ones((1, 2, 2)), np.ones((1, 2, 2)), np.zeros((1, 2, 2)))
    c = ReconstructionCounts()
    c.add_groove(np.zeros_like(target), target, [2])
    r = c.result(groove=True)
    assert r["hit_f1"] == 0.0 and r["accuracy"] == 0.0
    assert r["velocity_mae"] is None and r["hit_precision"] is None


def test_kl_bits_matches_closed_form():
    assert kl_bits(np.zeros((1, 4)), np.ones((1, 4)))[0] == pytest.approx(0.0)
    mu, sigma = np.array([[1.0, 0.0]]), np.array([[1.0, 0.5]])
    nats = 0.5 * (1.0 + (0.25 - 1.0 - 2 * math.log(0.5)))
    assert kl_bits(mu, sigma)[0] == pytest.approx(nats / math.log(2))


# ---- the CLI on a tiny checkpoint and a tiny NoteSequence shard --------------------------------
def test_evaluate_cli_trained_and_untrained_floor(tmp_path):
    import json

    from absl import flags

    from generate_testlib import TINY_GROOVE, export_tiny, groove_sequence
    from musicgen import evaluate
    from musicgen.datasets.tfrecord import shard_name, write_records

    ckpt = export_tiny(tmp_path, "groovae_4bar", TINY_GROOVE)
    data = tmp_path / "ns"
    data.mkdir()
    import configs
    seqs = [groove_sequence(bars=5, seed=i) for i in range(3)]
    conv = configs.CONFIG_MAP["groovae_4bar"].data_converter
    conv.set_mode("eval")
    windows = sum(len(conv.to_tensors(s)) for s in seqs)  # 3 or 6, with the config's hop_size
    write_records(str(data / shard_name("test", 0, 1)), [s.SerializeToString() for s in seqs])
    fv = evaluate.define_flags(flags.FlagValues())
    out = tmp_path / "eval.json"
    fv(["evaluate", f"--checkpoint={ckpt}", f"--dataset_dir={data}", "--batch_size=4",
        f"--output_json={out}"])
    report = evaluate.run(fv)
    assert json.loads(out.read_text())["results"] == report["results"]
    for name in ("trained", "untrained"):
        r = report["results"][name]
        assert r["num_sequences"] == windows >= 3
        assert r["teacher_forced"]["steps"] == windows * 64 == r["sampled"]["steps"]
        for section in ("teacher_forced", "sampled"):
            assert 0.0 <= r[section]["accuracy"] <= 1.0
            assert 0.0 <= r[section]["hit_f1"] <= 1.0
        assert r["kl_bits"] >= 0.0
    assert "| trained |" in report["table"] and "| untrained |" in report["table"]
    zero = report["results"]["all-zero output"]["teacher_forced"]
    assert zero["hit_f1"] == 0.0 and zero["steps"] == windows * 64
    assert 0.0 < zero["accuracy"] < 1.0  # the groove rests on 16th steps 2, 4, ... of each beat
