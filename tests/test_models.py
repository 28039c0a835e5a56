"""musicgen.models: loss terms and schedules against their formulas, decoders, sampling, save/load."""
import math
import os

import keras
import numpy as np
import pytest
from keras import ops

import configs
from model_helpers import random_batch, tiny_config
from musicgen.models import schedules
from musicgen.models.lstm_utils import segment_lengths


def _np(x):
    return ops.convert_to_numpy(x)


def test_kl_closed_form_matches_tfp():
    import tensorflow_probability as tfp  # TFP runs on the TF backend (needs tf_keras importable)
    tfd = tfp.distributions
    rng = np.random.default_rng(0)
    mu = rng.normal(size=(5, 16)).astype("float32")
    sigma = rng.uniform(0.05, 3.0, size=(5, 16)).astype("float32")
    ours = _np(schedules.kl_divergence_standard_normal(mu, sigma))
    q = tfd.MultivariateNormalDiag(loc=mu, scale_diag=sigma)
    p = tfd.MultivariateNormalDiag(loc=np.zeros(16, "float32"), scale_diag=np.ones(16, "float32"))
    np.testing.assert_allclose(ours, tfd.kl_divergence(q, p).numpy(), rtol=1e-5, atol=1e-4)
    assert _np(schedules.kl_divergence_standard_normal(np.zeros((1, 4)), np.ones((1, 4))))[0] == 0


@pytest.mark.parametrize("step", [0, 1, 1000, 100_000, 1_000_000])
def test_beta_schedule(step):
    assert math.isclose(float(schedules.beta_schedule(step, 0.2, 0.99999)),
                        (1 - 0.99999 ** step) * 0.2, rel_tol=1e-4, abs_tol=1e-7)
    # beta_rate 0 (Magenta's default): no KL at step 0, then the full max_beta.
    assert float(schedules.beta_schedule(step, 0.2, 0.0)) == (0.0 if step == 0 else
                                                              pytest.approx(0.2))


@pytest.mark.parametrize("step", [0, 10, 5000, 50_000, 500_000])
def test_learning_rate_decays_to_floor(step):
    expected = (1e-3 - 1e-5) * 0.9999 ** step + 1e-5
    assert math.isclose(float(schedules.learning_rate_schedule(step, 1e-3, 0.9999, 1e-5)),
                        expected, rel_tol=1e-4)
    assert math.isclose(float(schedules.MagentaLearningRate(1e-3, 0.9999, 1e-5)(step)),
                        expected, rel_tol=1e-4)


def test_free_bits_clamp():
    free = 48 * math.log(2)
    kl = np.array([10.0, free, free + 5.0, 100.0], "float32")
    np.testing.assert_allclose(_np(schedules.free_bits_kl_cost(kl, 48)),
                               [0.0, 0.0, 5.0, 100.0 - free], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(schedules.free_bits_kl_cost(kl, 0)), kl)


@pytest.mark.parametrize("step", [0, 1000, 5000, 10_000, 20_000])
def test_inverse_sigmoid_sampling_probability(step):
    k = 1000.0
    assert math.isclose(float(schedules.sampling_probability(step, "inverse_sigmoid", k)),
                        1 - k / (k + math.exp(step / k)), rel_tol=1e-5, abs_tol=1e-7)


def test_other_sampling_schedules_and_validation():
    assert float(schedules.sampling_probability(7, "constant", 0.25)) == 0.25
    assert math.isclose(float(schedules.sampling_probability(3, "exponential", 0.5)), 0.875)
    assert not schedules.uses_scheduled_sampling("constant", 0.0)
    assert schedules.uses_scheduled_sampling("inverse_sigmoid", 1000)
    for schedule, rate in (("inverse_sigmoid", 0.5), ("constant", 2.0), ("linear", 0.1)):
        with pytest.raises(ValueError):
            schedules.sampling_probability(0, schedule, rate)


def test_segment_lengths():
    np.testing.assert_array_equal(_np(segment_lengths(np.array([64, 0, 20]), 4, 16)),
                                  [[16, 16, 16, 16], [0, 0, 0, 0], [16, 4, 0, 0]])
    np.testing.assert_array_equal(_np(segment_lengths(np.array([[3, 16]]), 2, 16)), [[3, 16]])


# ---- model-level tests ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def groove():
    """A tiny groovae_4bar model trained eagerly for a few steps on one batch."""
    # lr 1e-2: ten Adam steps on one batch must beat the posterior-sampling noise in the loss.
    cfg = tiny_config("groovae_4bar", "dropout_keep_prob=1.0,learning_rate=0.01")
    model = configs.build_model(cfg, compile=False, seed=3)
    model.compile(optimizer=model.make_optimizer(), run_eagerly=True)
    batch = random_batch(cfg, batch_size=2, seed=1)
    losses = [model.train_on_batch(batch, return_dict=True)["recon_loss"] for _ in range(10)]
    return cfg, model, batch, losses


def test_training_reduces_loss_and_advances_schedules(groove):
    cfg, model, batch, losses = groove
    assert losses[-1] < losses[0]
    assert int(model.global_step.numpy()) == 10 and int(model.optimizer.iterations.numpy()) == 10
    lr = float(model.optimizer.learning_rate.numpy())
    assert math.isclose(lr, (1e-2 - 1e-5) * 0.9999 ** 10 + 1e-5, rel_tol=1e-5)


def test_loss_is_recon_plus_beta_kl(groove):
    cfg, model, batch, _ = groove
    terms = {k: float(v) for k, v in model(batch, training=False).items()}
    assert terms["beta"] == pytest.approx(0.2)
    assert terms["loss"] == pytest.approx(terms["recon_loss"] + 0.2 * terms["kl_loss"], rel=1e-5)
    assert terms["recon_loss"] == pytest.approx(
        cfg.hparams.max_seq_len * (terms["hits_loss"] + terms["velocities_loss"] + terms["offsets_loss"]), rel=1e-4)
    assert 0 <= terms["hit_accuracy"] <= 1 and terms["accuracy"] <= terms["hit_accuracy"]
    assert int(model.global_step.numpy()) == 10  # inference does not advance the step


def test_encoder_ignores_padding_and_loss_is_masked(groove):
    cfg, model, batch, _ = groove
    short = dict(batch, lengths=np.array([5, 8], "int32"))
    noisy = {k: v.copy() for k, v in short.items()}
    noisy["inputs"][0, 5:] = 0.77
    noisy["outputs"][0, 5:] = 0.0
    _, mu_a, sigma_a = model.encode(short["inputs"], short["lengths"])
    _, mu_b, sigma_b = model.encode(noisy["inputs"], noisy["lengths"])
    np.testing.assert_allclose(mu_a, mu_b, atol=1e-6)
    np.testing.assert_allclose(sigma_a, sigma_b, atol=1e-6)
    # Reconstruction loss for a fixed z: targets past the length do not count.
    x_in = ops.pad(short["outputs"][:, :-1], [(0, 0), (1, 0), (0, 0)])
    loss_a, loss_b = (_np(model.decoder.reconstruction_loss(x_in, b["outputs"], b["lengths"],
                                                             mu_a, training=False)[0])
                      for b in (short, noisy))
    np.testing.assert_allclose(loss_a, loss_b, rtol=1e-6)
    _, mu_full, _ = model.encode(batch["inputs"], batch["lengths"])
    assert not np.allclose(mu_a[0], mu_full[0], atol=1e-6)


def test_groove_decode_ranges(groove):
    cfg, model, _, _ = groove
    z, mu, sigma = model.encode(*[random_batch(cfg, 3, seed=5)[k] for k in ("inputs", "lengths")])
    assert z.shape == mu.shape == sigma.shape == (3, 4) and (sigma > 0).all()
    samples = model.decode(z, length=64, temperature=1.0)
    assert samples.shape == (3, 64, 27)
    hits, velocities, offsets = np.split(samples, 3, axis=-1)
    assert set(np.unique(hits)) <= {0.0, 1.0}
    assert velocities.min() >= 0 and velocities.max() <= 1
    assert offsets.min() >= -1 and offsets.max() <= 1
    assert model.sample(2, length=16, temperature=0.5).shape == (2, 16, 27)


def test_save_load_round_trip(groove, tmp_path):
    cfg, model, batch, _ = groove
    path = os.path.join(tmp_path, "groove.weights.h5")
    model.save_weights(path)
    other = configs.build_model(cfg, compile=False, seed=3)
    other.load_weights(path)
    _, mu_a, sigma_a = model.encode(batch["inputs"], batch["lengths"])
    _, mu_b, sigma_b = other.encode(batch["inputs"], batch["lengths"])
    np.testing.assert_array_equal(mu_a, mu_b)
    np.testing.assert_array_equal(sigma_a, sigma_b)
    np.testing.assert_array_equal(model.decode(mu_a, temperature=0), other.decode(mu_b, temperature=0))
    assert int(other.global_step.numpy()) == 10


def _assert_one_hot_parts(samples, parts):
    for part in np.split(samples, np.cumsum(parts)[:-1], axis=-1):
        np.testing.assert_array_equal(part.sum(-1), 1.0)  # one-hot per output part


@pytest.mark.parametrize("name", ["cat-mel_2bar_small", "hierdec-mel_4bar", "flat-trio_16bar"])
def test_categorical_decode_shapes(name):
    cfg = tiny_config(name)
    model = configs.build_model(cfg, compile=False, seed=0)
    t, depth = cfg.hparams.max_seq_len, cfg.data_converter.output_depth
    samples = model.sample(2, temperature=1.0)
    assert samples.shape == (2, t, depth)
    _assert_one_hot_parts(samples, [90, 90, 512] if "trio" in name else [depth])
    z, _, _ = model.encode(*[random_batch(cfg)[k] for k in ("inputs", "lengths")])
    assert model.decode(z, temperature=0.5).shape == (2, t, depth)
    if "hier" in name:
        with pytest.raises(ValueError, match="max_seq_len"):
            model.decode(z, length=t // 2)


def test_split_multi_out_segment_sampling():
    """hierdec-trio: three core decoders share each conductor embedding; one segment sampled
    (the full 256-step eager loop is too slow for the test budget)."""
    cfg = tiny_config("hierdec-trio_16bar")
    model = configs.build_model(cfg, compile=False, seed=0)
    emb = model.decoder.segment_embeddings(keras.random.normal((2, 4), seed=1))
    assert tuple(emb.shape) == (2 * model.decoder.num_segments, 8)
    segment, states = model.decoder.core.sample(2, 16, emb[:2], temperature=1.0)
    assert tuple(segment.shape) == (2, 16, 692) and len(states) == 3
    _assert_one_hot_parts(_np(segment), [90, 90, 512])


def test_scheduled_sampling_stepwise_path():
    """p=0 through the stepwise path equals teacher forcing; p=1 feeds back samples instead."""
    cfg = tiny_config("cat-mel_2bar_small")
    model = configs.build_model(cfg, compile=False, seed=0)
    dec = model.decoder
    batch = random_batch(cfg, seed=2)
    x_input = ops.pad(batch["outputs"][:, :-1], [(0, 0), (1, 0), (0, 0)])
    z = keras.random.normal((2, 4), seed=1)
    forced = _np(dec.teacher_forced_logits(x_input, z, training=False))
    stepwise0 = _np(dec.scheduled_sampling_logits(x_input, z, None, 0.0, training=False))
    stepwise1 = _np(dec.scheduled_sampling_logits(x_input, z, None, 1.0, training=False))
    np.testing.assert_allclose(stepwise0, forced, atol=1e-5)
    np.testing.assert_allclose(stepwise1[:, 0], forced[:, 0], atol=1e-5)  # first input is fixed
    assert not np.allclose(stepwise1[:, 1:], forced[:, 1:], atol=1e-4)
    # Training at step 0 uses p = 1 - 1000/1001 and reports it.
    terms = model(batch, training=True)
    assert float(terms["sampling_probability"]) == pytest.approx(1 - 1000 / 1001, rel=1e-4)
    assert float(model(batch, training=False)["sampling_probability"]) == 1.0


def test_clip_to_zero_skips_exploding_steps():
    opt = schedules.ClipToZeroAdam(clip_to_zero=10.0, learning_rate=0.1, global_clipnorm=1.0)
    v = keras.Variable(np.ones(3, "float32"))
    opt.apply_gradients([(ops.convert_to_tensor(np.full(3, 100.0, "float32")), v)])
    np.testing.assert_array_equal(_np(v), np.ones(3))
    opt.apply_gradients([(ops.convert_to_tensor(np.full(3, 1.0, "float32")), v)])
    assert (_np(v) < 1).all()


def test_fit_compiled_on_tf_data_with_scheduled_sampling():
    """The real training path: Keras' compiled train function (tf.function, no eager) on a
    tf.data pipeline with an unknown batch dimension, scheduled sampling on."""
    import tensorflow as tf
    cfg = tiny_config("cat-drums_2bar_small", "max_seq_len=4")
    model = configs.build_model(cfg, seed=0)
    assert model.jit_compile is False  # XLA is slower here: bench/results/train_speed.md
    data = tf.data.Dataset.from_tensor_slices(random_batch(cfg, batch_size=4)).repeat(2).batch(2)
    assert data.element_spec["outputs"].shape[0] is None
    history = model.fit(data, epochs=2, verbose=0, shuffle=False)
    assert int(model.global_step.numpy()) == 8
    probs = history.history["sampling_probability"]  # epoch means of 1 - k / (k + e^(step/k))
    assert 0 < probs[0] < probs[1] < 0.002
    assert all(np.isfinite(history.history["loss"]))


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("name", ["groovae_4bar", "cat-mel_2bar_small", "hierdec-trio_16bar"])
def test_mixed_float16_trains_and_samples(name, mixed_float16):
    """Under mixed_float16 (what --mixed_precision sets on GPU) the LSTMs compute in float16,
    while the latent, the logits and every loss term stay float32; the optimizer is wrapped in
    a LossScaleOptimizer. Scheduled sampling (cat-mel) exercises the per-step cell path."""
    from musicgen.models.schedules import make_optimizer
    cfg = tiny_config(name)
    conv = cfg.data_converter
    model = cfg.model(cfg.hparams, conv.output_depth, conv.input_depth, conv.control_depth)
    model.compile(optimizer=make_optimizer(cfg.hparams))
    assert type(model.optimizer).__name__ == "LossScaleOptimizer"
    cells = [l for l in model._flatten_layers() if isinstance(l, keras.layers.LSTMCell)]
    assert cells and {c.compute_dtype for c in cells} == {"float16"}
    batch = random_batch(cfg)
    terms = model(batch, training=True)
    assert {keras.backend.standardize_dtype(v.dtype) for v in terms.values()} == {"float32"}
    before = [np.array(v) for v in model.trainable_variables]
    # Dynamic loss scaling starts at 2**15: a step whose float16 gradients overflow is skipped and
    # the scale halved (LossScaleOptimizer's contract), so allow a few steps before an update lands.
    for _ in range(8):
        logs = model.train_step(batch)
        assert np.isfinite(float(logs["loss"]))
        if any(not np.array_equal(b, np.array(v))
               for b, v in zip(before, model.trainable_variables)):
            break
    else:
        pytest.fail("8 mixed_float16 train steps left every weight unchanged")
    samples = model.sample(2, temperature=0.5)
    assert samples.dtype == np.float32 and np.isfinite(samples).all()
