"""MusicVAE as a keras.Model (Magenta's music_vae/base_model.py, in keras.ops).

encoder(inputs [+ controls]) -> mu = dense(h), sigma = softplus(dense(h)) -> z = mu + sigma * eps
-> decoder(z, shifted outputs [+ controls]).

loss = mean(reconstruction) + beta * mean(max(KL - free_bits * ln 2, 0)),
beta = (1 - beta_rate**step) * max_beta, KL in closed form against N(0, I).

Training uses Keras' own `train_step` on every backend: `call(batch, training=True)` returns the
scalar loss terms, `compute_loss` picks the total, `compute_metrics` averages the terms over the
epoch. The step that drives beta and scheduled sampling is a non-trainable variable
(`global_step`) advanced in the training forward pass, so it is saved with the weights.
The optimizer's learning rate follows the same formula on `optimizer.iterations`.

Batch format: {"inputs": (B,T,Di), "outputs": (B,T,Do), "controls": (B,T,Dc), "lengths": (B,)}.

>>> model = MusicVAEBuilder(BidirectionalLstmEncoder, GrooveLstmDecoder)(  # doctest: +SKIP
...     hparams, output_depth=27, input_depth=27)
>>> model.compile(optimizer=model.make_optimizer()); model.fit(dataset)     # doctest: +SKIP
>>> model.sample(4, length=64, temperature=0.5)                           # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import keras
from keras import ops
# What Keras' CompileLoss applies to every loss (a no-op outside tf.distribute); keras is pinned.
from keras.src.losses.loss import scale_loss_for_distribution

from musicgen.models import schedules
from musicgen.models.lstm_utils import small_normal

BASE_METRICS = ("loss", "recon_loss", "kl_loss", "kl_bits", "beta", "learning_rate",
                "sampling_probability")


class MusicVAE(keras.Model):
    """Variational autoencoder over fixed-length sequences with an LSTM encoder and decoder.

    Args:
      encoder_fn: callable(hparams) -> encoder layer (`output_depth`, call(seq, lengths)).
      decoder_fn: callable(hparams, output_depth) -> decoder layer (`build_decoder`,
        `reconstruction_loss`, `sample`, `metric_names`).
      hparams: configs.HParams (or any object with the same attributes).
      output_depth / input_depth / control_depth: the converter's depths.
      seed: seed of the sampling noise (None: random).
    """

    def __init__(self, encoder_fn: Callable, decoder_fn: Callable, hparams, output_depth: int,
                 input_depth: Optional[int] = None, control_depth: int = 0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not hparams.z_size:
            raise ValueError("MusicVAE needs z_size > 0 (decoder-only models are not supported)")
        if hparams.residual_encoder or hparams.residual_decoder:
            raise ValueError("residual_encoder / residual_decoder are not supported")
        schedules.check_sampling_schedule(hparams.sampling_schedule, hparams.sampling_rate)
        self.hparams = hparams
        self.output_depth = int(output_depth)
        self.input_depth = int(input_depth if input_depth is not None else output_depth)
        self.control_depth = int(control_depth)
        self.encoder = encoder_fn(hparams)
        self.decoder = decoder_fn(hparams, self.output_depth)
        self.mu_layer = keras.layers.Dense(hparams.z_size, kernel_initializer=small_normal(),
                                           name="mu")
        self.sigma_layer = keras.layers.Dense(hparams.z_size, activation="softplus",
                                              kernel_initializer=small_normal(), name="sigma")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.global_step = self.add_weight(name="global_step", shape=(), dtype="int32",
                                           initializer="zeros", trainable=False)
        self.metric_names = BASE_METRICS + tuple(
            m for m in self.decoder.metric_names if m not in BASE_METRICS)
        self.trackers = [keras.metrics.Mean(name=n) for n in self.metric_names]
        self.build_layers()

    # ---- building ---------------------------------------------------------------------------
    def build_layers(self) -> None:
        """Create every variable (depths are known up front, no data needed)."""
        self.encoder.build((None, None, self.input_depth + self.control_depth))
        self.mu_layer.build((None, self.encoder.output_depth))
        self.sigma_layer.build((None, self.encoder.output_depth))
        self.decoder.build_decoder(self.hparams.z_size, self.control_depth)
        self.built = True

    def build(self, *args, **kwargs):  # variables already exist (build_layers)
        self.built = True

    def build_from_batch(self, batch) -> None:
        """Run one inference forward pass on `batch` (variables exist already; checks shapes)."""
        self(batch, training=False)

    def make_optimizer(self) -> keras.optimizers.Optimizer:
        return schedules.make_optimizer(self.hparams)

    @property
    def uses_scheduled_sampling(self) -> bool:
        return schedules.uses_scheduled_sampling(self.hparams.sampling_schedule,
                                                 self.hparams.sampling_rate)

    # ---- encoding ---------------------------------------------------------------------------
    def _posterior(self, inputs, lengths, controls=None, training=None):
        inputs = ops.cast(inputs, "float32")
        if controls is not None and self.control_depth:
            inputs = ops.concatenate([inputs, ops.cast(controls, "float32")], axis=-1)
        h = self.encoder(inputs, ops.cast(lengths, "int32"), training=training)
        # The latent stays float32 under a mixed policy (mu/sigma layers compute in float16).
        mu = ops.cast(self.mu_layer(h), "float32")
        sigma = ops.cast(self.sigma_layer(h), "float32")
        eps = keras.random.normal(ops.shape(mu), dtype="float32", seed=self.seed_generator)
        return mu + sigma * eps, mu, sigma

    def encode(self, inputs, lengths, controls=None):
        """Encode a batch: returns (z, mu, sigma), each (B, z_size) numpy float32."""
        z, mu, sigma = self._posterior(inputs, lengths, controls, training=False)
        return tuple(ops.convert_to_numpy(t) for t in (z, mu, sigma))

    # ---- training / evaluation forward pass -------------------------------------------------
    def _controls(self, batch, num_steps):
        controls = batch.get("controls") if isinstance(batch, dict) else None
        if not self.control_depth or controls is None:
            return None
        return ops.cast(controls[:, :num_steps], "float32")

    def call(self, batch, training=None):
        """Loss terms of a batch dict (see module doc) as a dict of scalars."""
        hp = self.hparams
        outputs = ops.cast(batch["outputs"], "float32")
        num_steps = min(outputs.shape[1], hp.max_seq_len)
        x_target = outputs[:, :num_steps]
        x_input = ops.pad(x_target[:, :-1], [(0, 0), (1, 0), (0, 0)])
        lengths = ops.minimum(ops.cast(batch["lengths"], "int32"), num_steps)
        controls = self._controls(batch, num_steps)
        step = ops.cast(self.global_step, "float32")

        z, mu, sigma = self._posterior(batch["inputs"][:, :num_steps], lengths, controls,
                                       training=training)
        kl = schedules.kl_divergence_standard_normal(mu, sigma)
        kl_cost = schedules.free_bits_kl_cost(kl, hp.free_bits)
        if not self.uses_scheduled_sampling:
            p = None
        elif training:
            p = schedules.sampling_probability(step, hp.sampling_schedule, hp.sampling_rate)
        else:  # Magenta evaluates scheduled-sampling models fully on their own samples
            p = 1.0
        r_loss, dec_metrics = self.decoder.reconstruction_loss(
            x_input, x_target, lengths, z, controls, p, training=training)
        beta = schedules.beta_schedule(step, hp.max_beta, hp.beta_rate)
        loss = ops.mean(r_loss) + beta * ops.mean(kl_cost)
        if training:
            self.global_step.assign(self.global_step + 1)
        terms = {
            "loss": loss, "recon_loss": ops.mean(r_loss), "kl_loss": ops.mean(kl_cost),
            "kl_bits": ops.mean(kl) / schedules.LN2, "beta": beta,
            "learning_rate": schedules.learning_rate_schedule(
                step, hp.learning_rate, hp.decay_rate, hp.min_learning_rate),
            "sampling_probability": ops.convert_to_tensor(0.0 if p is None else p, "float32"),
        }
        terms.update(dec_metrics)
        return terms

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Total loss, divided by the replica count under tf.distribute (Keras' own contract:
        replicas' gradients are summed, and Keras' train_step un-scales its loss tracker)."""
        return scale_loss_for_distribution(sum([y_pred["loss"]] + list(self.losses)))

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        for tracker in self.trackers:
            tracker.update_state(y_pred[tracker.name])
        return {t.name: t.result() for t in self.trackers}

    # ---- generation -------------------------------------------------------------------------
    def _tile_controls(self, controls, n):
        if controls is None or not self.control_depth:
            return None
        controls = ops.cast(ops.convert_to_tensor(controls), "float32")
        if len(controls.shape) == 2:
            controls = ops.repeat(ops.expand_dims(controls, 0), n, axis=0)
        return controls

    def decode(self, z, length: Optional[int] = None, temperature: float = 1.0, controls=None):
        """Sample sequences from latent vectors z (n, z_size): numpy (n, length, output_depth)."""
        z = ops.cast(ops.convert_to_tensor(z), "float32")
        n = int(z.shape[0])
        length = int(length or self.hparams.max_seq_len)
        samples, _ = self.decoder.sample(n, length, z, self._tile_controls(controls, n),
                                         float(temperature))
        return ops.convert_to_numpy(samples)

    def sample(self, n: int, length: Optional[int] = None, temperature: float = 1.0,
               controls=None):
        """Decode n latent vectors drawn from the prior N(0, I)."""
        z = keras.random.normal((int(n), self.hparams.z_size), seed=self.seed_generator)
        return self.decode(z, length, temperature, controls)


@dataclasses.dataclass(frozen=True)
class MusicVAEBuilder:
    """`Config.model`: MusicVAEBuilder(encoder_fn, decoder_fn)(hparams, output_depth, ...).

    encoder_fn(hparams) and decoder_fn(hparams, output_depth) make the layers; use
    functools.partial for extra arguments (level_lengths, output_depths, ...).
    """

    encoder_fn: Callable
    decoder_fn: Callable

    def __call__(self, hparams, output_depth: int, input_depth: Optional[int] = None,
                 control_depth: int = 0, seed=None) -> MusicVAE:
        return MusicVAE(self.encoder_fn, self.decoder_fn, hparams, output_depth,
                        input_depth=input_depth, control_depth=control_depth, seed=seed)

    def describe(self) -> str:
        return f"MusicVAE({_name(self.encoder_fn)}, {_name(self.decoder_fn)})"


def _name(fn) -> str:
    inner = getattr(fn, "func", fn)
    return getattr(inner, "__name__", repr(inner))
