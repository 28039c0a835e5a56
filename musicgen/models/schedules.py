"""Loss terms and step schedules of MusicVAE, in keras.ops (Magenta's base_model / lstm_utils).

All functions accept a float `step` (python number or scalar tensor) and return keras tensors.

>>> float(beta_schedule(0.0, max_beta=0.2, beta_rate=0.99999))
0.0
"""
from __future__ import annotations

import math

import keras
from keras import ops

LN2 = math.log(2.0)
SAMPLING_SCHEDULES = ("constant", "inverse_sigmoid", "exponential")


def power_of_step(base: float, step):
    """base**step for a python float base and a float32 step, without float32 rounding of base.

    exp(step * log(base)) with log taken in double precision: 0.99999 is not exact in float32, and
    float32 0.99999**1000 is off by 1e-3 relative. base 0 gives 1 at step 0 and 0 after.
    """
    base = float(base)
    if base <= 0.0:
        return ops.cast(step <= 0, "float32")
    return ops.exp(step * math.log(base))


def kl_divergence_standard_normal(mu, sigma):
    """KL(N(mu, diag(sigma^2)) || N(0, I)) in nats, summed over the last axis.

    Closed form: 0.5 * sum(mu^2 + sigma^2 - 1 - 2 log sigma).
    """
    sigma = ops.maximum(sigma, 1e-12)
    return 0.5 * ops.sum(ops.square(mu) + ops.square(sigma) - 1.0 - 2.0 * ops.log(sigma), axis=-1)


def free_bits_kl_cost(kl_nats, free_bits):
    """max(KL - free_bits * ln 2, 0): the KL that the beta term penalises (Magenta's kl_cost)."""
    return ops.maximum(kl_nats - float(free_bits) * LN2, 0.0)


def beta_schedule(step, max_beta, beta_rate):
    """KL weight (1 - beta_rate**step) * max_beta (beta_rate 0 gives 0 at step 0, then max_beta)."""
    step = ops.cast(step, "float32")
    return (1.0 - power_of_step(beta_rate, step)) * max_beta


def learning_rate_schedule(step, learning_rate, decay_rate, min_learning_rate):
    """(learning_rate - min_learning_rate) * decay_rate**step + min_learning_rate."""
    step = ops.cast(step, "float32")
    return (learning_rate - min_learning_rate) * power_of_step(decay_rate, step) + min_learning_rate


def check_sampling_schedule(schedule: str, rate: float) -> None:
    """Raise ValueError for an unknown schedule or a rate outside its valid interval."""
    if schedule not in SAMPLING_SCHEDULES:
        raise ValueError(f"sampling_schedule must be one of {SAMPLING_SCHEDULES}, got {schedule!r}")
    if schedule == "constant" and not 0.0 <= rate <= 1.0:
        raise ValueError(f"constant sampling_rate must be in [0, 1], got {rate}")
    if schedule == "inverse_sigmoid" and rate < 1.0:
        raise ValueError(f"inverse_sigmoid sampling_rate must be >= 1, got {rate}")
    if schedule == "exponential" and not 0.0 < rate < 1.0:
        raise ValueError(f"exponential sampling_rate must be in (0, 1), got {rate}")


def uses_scheduled_sampling(schedule: str, rate: float) -> bool:
    """False when the schedule is the constant 0 (pure teacher forcing), as Magenta."""
    return bool(schedule) and not (schedule == "constant" and rate == 0)


def sampling_probability(step, schedule: str, rate: float):
    """Probability of feeding the model's own sample instead of the ground truth at training step.

    constant: rate; inverse_sigmoid: 1 - k / (k + exp(step / k)); exponential: 1 - k**step.
    """
    check_sampling_schedule(schedule, rate)
    step = ops.cast(step, "float32")
    k = float(rate)
    if schedule == "constant":
        return ops.convert_to_tensor(k, "float32")
    if schedule == "inverse_sigmoid":
        return 1.0 - k / (k + ops.exp(step / k))
    return 1.0 - power_of_step(k, step)


@keras.saving.register_keras_serializable(package="musicgen")
class MagentaLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """Exponential decay to a floor, per optimizer step (see `learning_rate_schedule`)."""

    def __init__(self, learning_rate=1e-3, decay_rate=0.9999, min_learning_rate=1e-5):
        self.learning_rate = float(learning_rate)
        self.decay_rate = float(decay_rate)
        self.min_learning_rate = float(min_learning_rate)

    def __call__(self, step):
        return learning_rate_schedule(step, self.learning_rate, self.decay_rate,
                                      self.min_learning_rate)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "decay_rate": self.decay_rate,
                "min_learning_rate": self.min_learning_rate}


@keras.saving.register_keras_serializable(package="musicgen")
class ClipToZeroAdam(keras.optimizers.Adam):
    """Adam whose gradients become zero when their global norm exceeds `clip_to_zero`.

    Magenta's `grad_norm_clip_to_zero` (global_norm mode): a step with an exploding gradient is
    effectively skipped. Normal clipping (global_clipnorm / clipvalue) is applied afterwards.
    """

    def __init__(self, clip_to_zero=None, **kwargs):
        super().__init__(**kwargs)
        self.clip_to_zero = clip_to_zero

    def _clip_gradients(self, grads):
        if self.clip_to_zero:
            present = [g for g in grads if g is not None]
            norm = ops.sqrt(sum(ops.sum(ops.square(g)) for g in present))
            keep = ops.cast(norm <= self.clip_to_zero, "float32")
            grads = [None if g is None else g * ops.cast(keep, g.dtype) for g in grads]
        return super()._clip_gradients(grads)

    def get_config(self):
        config = super().get_config()
        config["clip_to_zero"] = self.clip_to_zero
        return config


def make_optimizer(hparams) -> keras.optimizers.Optimizer:
    """Adam with Magenta's decaying learning rate and gradient clipping from `hparams`."""
    lr = MagentaLearningRate(hparams.learning_rate, hparams.decay_rate, hparams.min_learning_rate)
    if hparams.clip_mode == "global_norm":
        return ClipToZeroAdam(clip_to_zero=hparams.grad_norm_clip_to_zero, learning_rate=lr,
                              global_clipnorm=hparams.grad_clip)
    if hparams.clip_mode == "value":
        return ClipToZeroAdam(learning_rate=lr, clipvalue=hparams.grad_clip)
    raise ValueError(f"clip_mode must be 'global_norm' or 'value', got {hparams.clip_mode!r}")
