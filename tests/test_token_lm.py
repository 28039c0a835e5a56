"""Token LMs: the model's loss against a hand computation, every LM config trains a step, and the
one Sampler (greedy, top-k, top-p, seeds, compiled loop == Python loop, EOS)."""
import math

import keras
import numpy as np
import pytest
from keras import ops

import configs
from musicgen.models.lm.hparams import LMHParams
from musicgen.models.lm.sampler import Sampler, filter_logits, python_loop_generate
from musicgen.models.lm.token_lm import TokenLM

LM_CONFIGS = sorted(n for n, c in configs.CONFIG_MAP.items() if c.family.name == "token_lm")


def tiny_lm(core="lstm", vocab=12, seed=1):
    keras.utils.set_random_seed(seed)
    return TokenLM(LMHParams(core=core, rnn_size=[16, 16], embedding_size=8), vocab_size=vocab)


def test_nll_on_a_tiny_fixture_equals_a_hand_computation():
    """Zero every weight but the projection bias: logits = bias at every position, so the NLL is
    -mean log softmax(bias)[target] over exactly the predicted (unpadded) targets."""
    lm = tiny_lm(vocab=5)
    for w in lm.weights:
        w.assign(np.zeros(w.shape, w.dtype))
    bias = np.array([0.0, 1.0, -0.5, 2.0, 0.3], np.float32)
    lm.projection.bias.assign(bias)
    tokens = np.array([[2, 3, 4, 1, 0, 0],    # length 4: targets 3, 4, 1
                       [2, 4, 4, 3, 3, 1]],   # length 6: targets 4, 4, 3, 3, 1
                      np.int32)
    lengths = np.array([4, 6], np.int32)
    out = lm({"tokens": tokens, "lengths": lengths}, training=False)
    log_p = bias - math.log(np.exp(bias).sum())
    targets = [3, 4, 1, 4, 4, 3, 3, 1]
    hand = -sum(log_p[t] for t in targets) / len(targets)
    assert float(out["count"]) == 8
    assert float(out["nll"]) == pytest.approx(hand, rel=1e-5)
    assert float(out["perplexity"]) == pytest.approx(math.exp(hand), rel=1e-5)
    # argmax is id 3 everywhere: 3 of the 8 targets are 3
    assert float(out["accuracy"]) == pytest.approx(3 / 8)


def test_padding_never_changes_the_loss():
    lm = tiny_lm()
    tokens = np.array([[2, 5, 6, 7, 1]], np.int32)
    short = lm({"tokens": tokens, "lengths": np.array([5])}, training=False)
    padded = lm({"tokens": np.pad(tokens, [(0, 0), (0, 4)], constant_values=9),
                 "lengths": np.array([5])}, training=False)
    assert float(short["nll"]) == pytest.approx(float(padded["nll"]), rel=1e-6)
    assert float(padded["count"]) == 4


@pytest.mark.parametrize("name", LM_CONFIGS)
def test_every_lm_config_trains_a_step(name):
    tiny = ("rnn_size=[16],embedding_size=8" if configs.CONFIG_MAP[name].hparams.core in
            ("rnn", "gru", "lstm") else "num_layers=1,embedding_size=16,num_heads=2,filter_size=32,"
            "max_seq_len=64,segment_len=16,mem_len=16")
    cfg = configs.update_config(configs.CONFIG_MAP[name], tiny)
    model = configs.build_model(cfg, compile=False, seed=1)
    model.compile(optimizer=model.make_optimizer())
    fmt = cfg.family.batch_format(cfg)
    rng = np.random.default_rng(0)
    batch = fmt.dummy_batch(2)
    batch["tokens"][:, 1:40] = rng.integers(3, cfg.data_converter.vocab_size, (2, 39))
    batch["lengths"][:] = [40, 25]
    before = [w.copy() for w in model.get_weights()]
    logs = model.train_on_batch(batch, return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["loss"] == pytest.approx(logs["nll"])
    assert logs["nll"] == pytest.approx(math.log(cfg.data_converter.vocab_size), rel=0.05)
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert changed >= len(model.trainable_weights)
    assert int(model.global_step.numpy()) == 1


# ---- filtering ------------------------------------------------------------------------------------
def test_top_k_keeps_exactly_the_k_largest():
    logits = np.array([[0.1, 3.0, -1.0, 2.0, 0.5, 2.5]], np.float32)
    kept = ops.convert_to_numpy(filter_logits(logits, top_k=3)) > -1e8
    assert kept.tolist() == [[False, True, False, True, False, True]]


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = np.array([[0.5, 0.05, 0.25, 0.15, 0.05]])
    logits = np.log(probs).astype(np.float32)
    kept = lambda p: (ops.convert_to_numpy(filter_logits(logits, top_p=p)) > -1e8)[0].tolist()  # noqa: E731
    assert kept(0.5) == [True, False, False, False, False]       # 0.5 alone reaches 0.5
    assert kept(0.6) == [True, False, True, False, False]        # 0.5 + 0.25
    assert kept(0.8) == [True, False, True, True, False]         # 0.5 + 0.25 + 0.15 = 0.9
    assert kept(1.0) == [True] * 5


def test_sampled_ids_never_leave_the_top_k():
    lm = tiny_lm(vocab=30)
    out = Sampler(temperature=1.5, top_k=3, seed=4).generate(lm, [[2]] * 4, 25)
    tokens = out["tokens"]
    for row in tokens:
        for i in range(1, len(row)):
            if row[i] == 0:  # PAD after EOS
                continue
            logits = ops.convert_to_numpy(lm.logits(row[None, :i]))[0, -1]
            assert row[i] in np.argsort(logits)[-3:], (i, row[i])


# ---- the sampler ----------------------------------------------------------------------------------
def test_greedy_follows_the_argmax_of_the_full_sequence_logits():
    lm = tiny_lm(core="gru", vocab=20)
    out = Sampler(temperature=0.0).generate(lm, [[2, 7, 9]], 12)
    row = out["tokens"][0]
    assert row[:3].tolist() == [2, 7, 9]
    n = int(out["lengths"][0])
    logits = ops.convert_to_numpy(lm.logits(row[None, : n - 1]))[0]
    assert row[3:n].tolist() == np.argmax(logits[2:], axis=-1).tolist()


def test_one_seed_one_output_and_seeds_differ():
    lm = tiny_lm(vocab=40)
    a = Sampler(temperature=1.0, seed=11).generate(lm, [[2]] * 3, 30)["tokens"]
    b = Sampler(temperature=1.0, seed=11).generate(lm, [[2]] * 3, 30)["tokens"]
    c = Sampler(temperature=1.0, seed=12).generate(lm, [[2]] * 3, 30)["tokens"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert len({tuple(r) for r in a}) == 3  # rows of one call differ


@pytest.mark.parametrize("core", ["rnn", "gru", "lstm"])
def test_compiled_loop_equals_the_python_loop(core):
    lm = tiny_lm(core=core, vocab=25)
    sampler = Sampler(temperature=0.8, top_p=0.9)
    compiled = sampler.generate(lm, [[2, 4, 5]] * 2, 20, seed=3)["tokens"]
    python = python_loop_generate(lm, [[2, 4, 5]] * 2, 20, sampler, seed=3)
    np.testing.assert_array_equal(compiled, python)


def test_stops_at_eos_and_pads_after_it():
    lm = tiny_lm(vocab=10)
    lm.projection.bias.assign(np.where(np.arange(10) == 1, 50.0, 0.0).astype(np.float32))  # EOS
    out = Sampler(temperature=1.0, seed=0).generate(lm, [[2, 5]] * 2, 8)
    assert out["tokens"][:, 2].tolist() == [1, 1] and not out["tokens"][:, 3:].any()
    assert out["lengths"].tolist() == [3, 3]


def test_sampler_rejects_bad_arguments():
    with pytest.raises(ValueError, match="top_p"):
        Sampler(top_p=0.0)
    with pytest.raises(ValueError, match="temperature"):
        Sampler(temperature=-1)
    with pytest.raises(ValueError, match="prompt"):
        Sampler().generate(tiny_lm(), np.zeros((2, 0), np.int32), 3)
