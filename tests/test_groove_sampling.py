"""GrooVAE velocity / offset sampling: Gaussian heads tempered by the temperature (hparams
velocity_sample_sd / offset_sample_sd; 0 = Magenta's regression means)."""
import numpy as np
import pytest
from keras import ops

from musicgen.config import check_hparam_range
from musicgen.models.lstm_decoders import GrooveLstmDecoder
from musicgen.models.vae_hparams import VAEHParams

D = 9


def decoder(vel_sd=0.0, off_sd=0.0):
    hp = VAEHParams(dec_rnn_size=[8], velocity_sample_sd=vel_sd, offset_sample_sd=off_sd)
    return GrooveLstmDecoder(hp, 3 * D)


def draw(dec, temperature, n=20000, seed=0):
    rng = np.random.default_rng(seed)
    hit_logits = np.tile(np.where(np.arange(D) < 4, 20.0, -20.0), (n, 1))   # drums 0-3 always hit
    logits = np.concatenate([hit_logits, np.zeros((n, D)), np.full((n, D), 0.2)], axis=1)
    noise = rng.uniform(1e-7, 1 - 1e-7, size=(n, 3 * D))
    out = ops.convert_to_numpy(dec.sample_from_logits(ops.convert_to_tensor(logits, "float32"),
                                                       temperature, ops.convert_to_tensor(noise, "float32")))
    return out[:, :D], out[:, D:2 * D], out[:, 2 * D:]


def test_zero_sd_samples_the_means_as_magenta():
    hits, vel, off = draw(decoder(), 0.5)
    assert hits[:, :4].all() and not hits[:, 4:].any()
    np.testing.assert_allclose(vel, 0.5, atol=1e-6)                  # sigmoid(0)
    np.testing.assert_allclose(off, np.tanh(0.2), atol=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_sd_scales_with_the_square_root_of_the_temperature_on_hits_only(temperature):
    hits, vel, off = draw(decoder(0.1, 0.2), temperature)
    expect_v, expect_o = 0.1 * np.sqrt(temperature), 0.2 * np.sqrt(temperature)
    assert vel[:, :4].std() == pytest.approx(expect_v, rel=0.05)
    assert vel[:, :4].mean() == pytest.approx(0.5, abs=0.01)
    assert off[:, :4].std() == pytest.approx(expect_o, rel=0.05)
    np.testing.assert_allclose(vel[:, 4:], 0.5, atol=1e-6)           # no hit: the mean
    np.testing.assert_allclose(off[:, 4:], np.tanh(0.2), atol=1e-6)


def test_noise_stays_in_the_heads_ranges_and_greedy_has_none():
    _, vel, off = draw(decoder(1.0, 1.0), 1.0)
    assert vel.min() >= 0.0 and vel.max() <= 1.0 and off.min() >= -1.0 and off.max() <= 1.0
    _, vel0, _ = draw(decoder(1.0, 1.0), 0.0)
    np.testing.assert_allclose(vel0, 0.5, atol=1e-6)


def test_sample_sd_range_is_checked():
    with pytest.raises(ValueError, match="velocity_sample_sd=-0.1 must be in"):
        check_hparam_range("velocity_sample_sd", -0.1)
    check_hparam_range("offset_sample_sd", 0.3)


def test_velocity_given_hit_divides_by_the_untempered_hit_probability():
    hp = VAEHParams(dec_rnn_size=[8], velocity_given_hit=True)
    dec = GrooveLstmDecoder(hp, 3 * D)
    hit_logit = np.log(0.6 / 0.4)                                    # P(hit) = 0.6
    vel_logit = np.log(0.3 / 0.7)                                    # regressed velocity x hit = 0.3
    logits = np.concatenate([np.full((1, D), hit_logit), np.full((1, D), vel_logit),
                             np.zeros((1, D))], axis=1).astype("float32")
    noise = np.full((1, 3 * D), 0.25, "float32")                     # coin 0.25 < 0.6: every drum hits
    for temperature in (0.0, 0.5):
        out = ops.convert_to_numpy(dec.sample_from_logits(ops.convert_to_tensor(logits), temperature,
                                                           ops.convert_to_tensor(noise)))
        np.testing.assert_allclose(out[0, D:2 * D], 0.5, atol=1e-5)  # 0.3 / 0.6
    plain = GrooveLstmDecoder(VAEHParams(dec_rnn_size=[8]), 3 * D)
    out = ops.convert_to_numpy(plain.sample_from_logits(ops.convert_to_tensor(logits), 0.5,
                                                         ops.convert_to_tensor(noise)))
    np.testing.assert_allclose(out[0, D:2 * D], 0.3, atol=1e-5)


def test_velocity_given_hit_leaves_cells_without_a_hit_alone():
    dec = GrooveLstmDecoder(VAEHParams(dec_rnn_size=[8], velocity_given_hit=True), 3 * D)
    logits = np.concatenate([np.full((1, D), -3.0), np.full((1, D), np.log(0.04 / 0.96)),
                             np.zeros((1, D))], axis=1).astype("float32")
    out = ops.convert_to_numpy(dec.sample_from_logits(ops.convert_to_tensor(logits), 0.0,
                                                       ops.convert_to_tensor(np.full((1, 3 * D), 0.5, "float32"))))
    assert not out[0, :D].any()
    np.testing.assert_allclose(out[0, D:2 * D], 0.04, atol=1e-5)   # fed back as the head says
