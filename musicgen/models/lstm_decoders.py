"""LSTM decoders of MusicVAE: z (+ controls) -> per-step output logits, losses and samples.

Every decoder concatenates z (and the controls) to its input at each step and starts from
tanh(dense(z)) states. Training is teacher-forced with whole-sequence LSTMs unless a sampling
probability is given: then it steps through time and, per sequence and step, feeds its own
(stop-gradient) sample of the previous output instead of the ground truth with that probability
(Magenta's ScheduledOutputTrainingHelper). Sampling steps the same LSTM cells in a Python loop.

* `CategoricalLstmDecoder`: one softmax per step; samples are one-hot.
* `MultiOutCategoricalLstmDecoder`: several softmaxes (`output_depths`) from one LSTM (trio).
* `SplitMultiOutLstmDecoder`: one core decoder per output part, sharing z (hierdec-trio).
* `GrooveLstmDecoder`: [hits, velocities, offsets] per drum: sigmoid log loss for hits, sigmoid
  and tanh squared errors for velocities and offsets; hits sampled Bernoulli(sigmoid(l / T)).
* `HierarchicalLstmDecoder`: conductor LSTMs over `level_lengths[:-1]` (inputs zero, Magenta's
  disable_autoregression) give one embedding per segment; the core decoder decodes all segments
  of the batch at once in training and one segment after the other when sampling.
"""
from __future__ import annotations

from typing import Callable, Sequence

import keras
import numpy as np
from keras import ops

from musicgen.models.lstm_utils import (InitialState, StackedLstm, check_level_lengths,
                                        concat_nonempty, length_mask, repeat_over_time,
                                        segment_lengths)

LOG_LOSS_EPSILON = 1e-7  # tf.compat.v1.losses.log_loss default


def masked_mean(values, mask):
    """Mean of (B, T) `values` over the steps where `mask` is 1 (0 when the mask is empty)."""
    return ops.sum(values * mask) / ops.maximum(ops.sum(mask), 1.0)


def split_depths(x, depths: Sequence[int]):
    """Split the last axis into parts of the given sizes."""
    bounds = list(np.cumsum(depths)[:-1])
    return ops.split(x, [int(b) for b in bounds], axis=-1) if bounds else [x]


class BaseLstmDecoder(keras.layers.Layer):
    """Autoregressive LSTM decoder; subclasses define loss terms, metrics and per-step sampling."""

    metric_names: tuple = ("accuracy",)

    def __init__(self, hparams, output_depth: int, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.output_depth = int(output_depth)
        self.rnn = StackedLstm(hparams.dec_rnn_size, hparams.dropout_keep_prob, name="rnn")
        self.initial_state = InitialState(self.rnn.state_sizes, name="z_to_initial_state")
        # Logits (and so every loss term) stay float32 under a mixed precision policy.
        self.output_layer = keras.layers.Dense(self.output_depth, name="output_projection",
                                               dtype="float32")
        self.seed_generator = keras.random.SeedGenerator(seed)

    # ---- to implement -----------------------------------------------------------------------
    def loss_terms(self, targets, logits) -> dict:
        """name -> (B, T) per-step loss; the reconstruction loss is their sum."""
        raise NotImplementedError

    def accuracy_metrics(self, targets, logits, mask) -> dict:
        """name -> scalar, masked by the sequence lengths."""
        raise NotImplementedError

    def sample_from_logits(self, logits, temperature, noise):
        """(B, depth) logits + uniform(0, 1) noise of the same shape -> (B, depth) sample in the
        converter's format. The noise is drawn up front for all steps (one random op per
        sequence, and the step function stays deterministic)."""
        raise NotImplementedError

    def _noise(self, num_steps: int, n):
        """Uniform noise in (0, 1) for num_steps steps: (num_steps, n, output_depth)."""
        return keras.random.uniform((num_steps, n, self.output_depth), minval=1e-7,
                                    maxval=1.0 - 1e-7, seed=self.seed_generator)

    def _project(self, rnn_output):
        return self.output_layer.call(ops.cast(rnn_output, "float32"))

    # ---- shared -----------------------------------------------------------------------------
    def build_decoder(self, z_depth: int, control_depth: int = 0) -> None:
        self.rnn.build((None, None, self.output_depth + z_depth + control_depth))
        self.initial_state.build((None, z_depth))
        self.output_layer.build((None, self.rnn.output_size))
        self.built = True

    def teacher_forced_logits(self, x_input, z, controls=None, training=None):
        num_steps = x_input.shape[1]
        rnn_input = concat_nonempty([x_input, repeat_over_time(z, num_steps), controls])
        outputs, _ = self.rnn(rnn_input, initial_state=self.initial_state(z), training=training)
        return self.output_layer(outputs)

    def scheduled_sampling_logits(self, x_input, z, controls, sampling_probability,
                                  training=None):
        """Step through time, replacing each previous ground truth by a sample w.p. p."""
        states = self.initial_state(z)
        num_steps = x_input.shape[1]
        noise = self._noise(num_steps, ops.shape(x_input)[0])
        coins = noise[:, :, :1]  # per sequence and step: use the sample when coin < p
        noise = self._noise(num_steps, ops.shape(x_input)[0])
        all_logits = []
        for t in range(num_steps):
            x_t = x_input[:, t]
            if all_logits:
                sampled = self.sample_from_logits(all_logits[-1], 1.0, noise[t])
                x_t = ops.where(coins[t] < sampling_probability, ops.stop_gradient(sampled), x_t)
            c_t = None if controls is None else controls[:, t]
            out, states = self.rnn.step(concat_nonempty([x_t, z, c_t]), states, training=training)
            all_logits.append(self._project(out))
        return ops.stack(all_logits, axis=1)

    def reconstruction_loss(self, x_input, x_target, lengths, z, controls=None,
                            sampling_probability=None, training=None):
        """Per-sequence summed loss (B,) and a dict of scalar metrics."""
        if sampling_probability is None:
            logits = self.teacher_forced_logits(x_input, z, controls, training)
        else:
            logits = self.scheduled_sampling_logits(x_input, z, controls, sampling_probability,
                                                    training)
        mask = length_mask(lengths, x_target.shape[1])
        terms = self.loss_terms(x_target, logits)
        r_loss = ops.sum(sum(terms.values()) * mask, axis=1)
        metrics = dict(self.accuracy_metrics(x_target, logits, mask))
        if len(terms) > 1:
            metrics.update({k: masked_mean(v, mask) for k, v in terms.items()})
        return r_loss, metrics

    def sample(self, n: int, length: int, z, controls=None, temperature=1.0, start_inputs=None):
        """Sample `length` steps without teacher forcing. Returns ((n, length, depth), states)."""
        states = self.initial_state(z)
        x_t = start_inputs if start_inputs is not None else ops.zeros((n, self.output_depth))
        noise = self._noise(length, n)
        samples = []
        for t in range(length):
            c_t = None if controls is None else controls[:, t]
            out, states = self.rnn.step(concat_nonempty([x_t, z, c_t]), states, training=False)
            x_t = self.sample_from_logits(self._project(out), temperature, noise[t])
            samples.append(x_t)
        return ops.stack(samples, axis=1), states


class CategoricalLstmDecoder(BaseLstmDecoder):
    """One categorical (softmax) output per step; targets and samples are one-hot."""

    def loss_terms(self, targets, logits):
        return {"xent": -ops.sum(targets * ops.log_softmax(logits, axis=-1), axis=-1)}

    def accuracy_metrics(self, targets, logits, mask):
        correct = ops.cast(ops.argmax(targets, -1) == ops.argmax(logits, -1), "float32")
        return {"accuracy": masked_mean(correct, mask)}

    def sample_from_logits(self, logits, temperature, noise):
        """One-hot sample of softmax(logits / temperature) by the Gumbel-max trick
        (temperature 0: argmax)."""
        if isinstance(temperature, (int, float)) and temperature <= 0:
            scores = logits
        else:
            scores = logits / temperature - ops.log(-ops.log(noise))
        return ops.one_hot(ops.argmax(scores, axis=-1), logits.shape[-1])


class MultiOutCategoricalLstmDecoder(CategoricalLstmDecoder):
    """Several categorical outputs (sizes `output_depths`, concatenated) from one LSTM."""

    def __init__(self, hparams, output_depth: int, output_depths: Sequence[int], **kwargs):
        if sum(output_depths) != output_depth:
            raise ValueError(f"MultiOutCategoricalLstmDecoder: output_depths {list(output_depths)} "
                             f"do not sum to the converter's output depth {output_depth}")
        super().__init__(hparams, output_depth, **kwargs)
        self.output_depths = [int(d) for d in output_depths]

    def _parts(self, targets, logits):
        return zip(split_depths(targets, self.output_depths),
                   split_depths(logits, self.output_depths))

    def loss_terms(self, targets, logits):
        parts = [super(MultiOutCategoricalLstmDecoder, self).loss_terms(t, l)["xent"]
                 for t, l in self._parts(targets, logits)]
        return {"xent": sum(parts)}

    def accuracy_metrics(self, targets, logits, mask):
        accs = [super(MultiOutCategoricalLstmDecoder, self).accuracy_metrics(t, l, mask)
                for t, l in self._parts(targets, logits)]
        return {"accuracy": sum(a["accuracy"] for a in accs) / len(accs)}

    def sample_from_logits(self, logits, temperature, noise):
        parent = super(MultiOutCategoricalLstmDecoder, self).sample_from_logits
        return ops.concatenate([parent(l, temperature, u) for l, u in zip(
            split_depths(logits, self.output_depths), split_depths(noise, self.output_depths))],
            axis=-1)


class GrooveLstmDecoder(BaseLstmDecoder):
    """GrooVAE decoder: per drum a hit (sigmoid), a velocity (sigmoid) and an offset (tanh)."""

    metric_names = ("accuracy", "hit_accuracy", "hits_loss", "velocities_loss", "offsets_loss")

    def __init__(self, hparams, output_depth: int, **kwargs):
        if output_depth % 3:
            raise ValueError(f"GrooveLstmDecoder: output depth {output_depth} is not 3 x drums")
        super().__init__(hparams, output_depth, **kwargs)
        self.velocity_sample_sd = float(getattr(hparams, "velocity_sample_sd", 0.0))
        self.offset_sample_sd = float(getattr(hparams, "offset_sample_sd", 0.0))
        self.velocity_given_hit = bool(getattr(hparams, "velocity_given_hit", False))

    @staticmethod
    def activate(logits):
        """(hit probabilities, velocities in [0, 1], offsets in [-1, 1])."""
        hits, velocities, offsets = ops.split(logits, 3, axis=-1)
        return ops.sigmoid(hits), ops.sigmoid(velocities), ops.tanh(offsets)

    def loss_terms(self, targets, logits):
        t_hits, t_vel, t_off = ops.split(targets, 3, axis=-1)
        p_hits, p_vel, p_off = self.activate(logits)
        eps = LOG_LOSS_EPSILON
        log_loss = -(t_hits * ops.log(p_hits + eps) + (1.0 - t_hits) * ops.log(1.0 - p_hits + eps))
        return {"hits_loss": ops.sum(log_loss, axis=-1),
                "velocities_loss": ops.sum(ops.square(t_vel - p_vel), axis=-1),
                "offsets_loss": ops.sum(ops.square(t_off - p_off), axis=-1)}

    def accuracy_metrics(self, targets, logits, mask):
        t_hits = ops.split(targets, 3, axis=-1)[0] > 0.5
        p_hits = ops.split(logits, 3, axis=-1)[0] > 0.0
        correct = ops.cast(t_hits == p_hits, "float32")
        return {"accuracy": masked_mean(ops.min(correct, axis=-1), mask),
                "hit_accuracy": masked_mean(ops.mean(correct, axis=-1), mask)}

    def sample_from_logits(self, logits, temperature, noise):
        """Hits ~ Bernoulli(sigmoid(logits / temperature)) (temperature 0: logit > 0);
        velocities and offsets are the activated outputs (the Gaussian means; velocities divided
        by the hit probability with `velocity_given_hit`), plus, on sampled
        hits, Gaussian noise of sd `velocity_sample_sd` / `offset_sample_sd` x sqrt(temperature)
        (clipped to the heads' ranges; none at temperature 0 or with the sds 0, Magenta's way)."""
        hit_logits, vel_logits, off_logits = ops.split(logits, 3, axis=-1)
        velocities, offsets = ops.sigmoid(vel_logits), ops.tanh(off_logits)
        if isinstance(temperature, (int, float)) and temperature <= 0:
            hits = ops.cast(hit_logits > 0, "float32")
        else:
            coin = ops.split(noise, 3, axis=-1)[0]
            hits = ops.cast(coin < ops.sigmoid(hit_logits / temperature), "float32")
        if self.velocity_given_hit:  # on hits: E[velocity | hit] = E[velocity x hit] / P(hit)
            given = ops.clip(velocities / ops.maximum(ops.sigmoid(hit_logits), 1e-3), 0.0, 1.0)
            velocities = hits * given + (1.0 - hits) * velocities
        if isinstance(temperature, (int, float)) and temperature <= 0:
            return ops.concatenate([hits, velocities, offsets], axis=-1)
        _, u_vel, u_off = ops.split(noise, 3, axis=-1)
        spread = ops.sqrt(ops.cast(temperature, "float32"))
        if self.velocity_sample_sd > 0:
            gauss = ops.sqrt(2.0) * ops.erfinv(2.0 * u_vel - 1.0)
            velocities = ops.clip(velocities + hits * gauss * self.velocity_sample_sd * spread,
                                  0.0, 1.0)
        if self.offset_sample_sd > 0:
            gauss = ops.sqrt(2.0) * ops.erfinv(2.0 * u_off - 1.0)
            offsets = ops.clip(offsets + hits * gauss * self.offset_sample_sd * spread, -1.0, 1.0)
        return ops.concatenate([hits, velocities, offsets], axis=-1)


class SplitMultiOutLstmDecoder(keras.layers.Layer):
    """One core decoder per output part (`output_depths`), all conditioned on the same z."""

    def __init__(self, hparams, output_depth: int, core_decoders: Sequence[Callable],
                 output_depths: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        if len(core_decoders) != len(output_depths):
            raise ValueError(f"SplitMultiOutLstmDecoder: {len(core_decoders)} core decoders but "
                             f"{len(output_depths)} output depths")
        if sum(output_depths) != output_depth:
            raise ValueError(f"SplitMultiOutLstmDecoder: output_depths {list(output_depths)} do "
                             f"not sum to the converter's output depth {output_depth}")
        self.output_depth = int(output_depth)
        self.output_depths = [int(d) for d in output_depths]
        self.decoders = [cls(hparams, d, name=f"core_decoder_{i}")
                         for i, (cls, d) in enumerate(zip(core_decoders, output_depths))]
        self.metric_names = self.decoders[0].metric_names

    def build_decoder(self, z_depth: int, control_depth: int = 0) -> None:
        for dec in self.decoders:
            dec.build_decoder(z_depth, control_depth)
        self.built = True

    def reconstruction_loss(self, x_input, x_target, lengths, z, controls=None,
                            sampling_probability=None, training=None):
        results = [dec.reconstruction_loss(i, t, lengths, z, controls, sampling_probability,
                                           training)
                   for dec, i, t in zip(self.decoders, split_depths(x_input, self.output_depths),
                                        split_depths(x_target, self.output_depths))]
        r_loss = sum(r for r, _ in results)
        metrics = {k: sum(m[k] for _, m in results) / len(results) for k in results[0][1]}
        return r_loss, metrics

    def sample(self, n, length, z, controls=None, temperature=1.0, start_inputs=None):
        starts = (split_depths(start_inputs, self.output_depths) if start_inputs is not None
                  else [None] * len(self.decoders))
        results = [dec.sample(n, length, z, controls, temperature, s)
                   for dec, s in zip(self.decoders, starts)]
        return ops.concatenate([s for s, _ in results], axis=-1), [st for _, st in results]


class HierarchicalLstmDecoder(keras.layers.Layer):
    """Conductor LSTMs over `level_lengths[:-1]`, core decoder over segments of level_lengths[-1].

    `core_decoder` is a callable (hparams, output_depth, name=...) -> decoder, e.g. a decoder
    class or a functools.partial of one.
    """

    def __init__(self, hparams, output_depth: int, core_decoder: Callable,
                 level_lengths: Sequence[int], disable_autoregression=True, **kwargs):
        super().__init__(**kwargs)
        self.level_lengths = check_level_lengths("HierarchicalLstmDecoder", level_lengths,
                                                 hparams.max_seq_len)
        if disable_autoregression is not True:
            raise NotImplementedError(
                "HierarchicalLstmDecoder: only disable_autoregression=True (zero conductor "
                "inputs, as every Magenta hierdec config) is implemented")
        self.output_depth = int(output_depth)
        self.conductors = [StackedLstm(hparams.dec_rnn_size, hparams.dropout_keep_prob,
                                       name=f"conductor_{i}")
                           for i in range(len(self.level_lengths) - 1)]
        self.conductor_states = [InitialState(c.state_sizes, name=f"conductor_{i}_initial_state")
                                 for i, c in enumerate(self.conductors)]
        self.core = core_decoder(hparams, output_depth, name="core_decoder")
        self.metric_names = self.core.metric_names

    @property
    def segment_length(self) -> int:
        return self.level_lengths[-1]

    @property
    def num_segments(self) -> int:
        return int(np.prod(self.level_lengths[:-1]))

    def build_decoder(self, z_depth: int, control_depth: int = 0) -> None:
        depth = z_depth
        for cond, init in zip(self.conductors, self.conductor_states):
            cond.build((None, None, 1))
            init.build((None, depth))
            depth = cond.output_size
        self.core.build_decoder(depth, control_depth)
        self.built = True

    def segment_embeddings(self, z, training=None):
        """(B, z) -> (B * num_segments, H): the top conductor output for each segment."""
        emb = z
        for cond, init, num_steps in zip(self.conductors, self.conductor_states,
                                         self.level_lengths):
            zeros = ops.zeros_like(repeat_over_time(emb[:, :1], num_steps))
            outputs, _ = cond(zeros, initial_state=init(emb), training=training)
            emb = ops.reshape(outputs, (-1, cond.output_size))
        return emb

    def _to_segments(self, t):
        return None if t is None else ops.reshape(t, (-1, self.segment_length, t.shape[-1]))

    def reconstruction_loss(self, x_input, x_target, lengths, z, controls=None,
                            sampling_probability=None, training=None):
        seg_lengths = ops.reshape(
            segment_lengths(lengths, self.num_segments, self.segment_length), (-1,))
        r_loss, metrics = self.core.reconstruction_loss(
            self._to_segments(x_input), self._to_segments(x_target), seg_lengths,
            self.segment_embeddings(z, training), self._to_segments(controls),
            sampling_probability, training)
        return ops.sum(ops.reshape(r_loss, (-1, self.num_segments)), axis=1), metrics

    def sample(self, n, length, z, controls=None, temperature=1.0, start_inputs=None):
        total = self.num_segments * self.segment_length
        if length != total:
            raise ValueError(f"HierarchicalLstmDecoder samples exactly max_seq_len={total} steps, "
                             f"got length={length}")
        emb = ops.reshape(self.segment_embeddings(z, training=False), (n, self.num_segments, -1))
        pieces, start, seg = [], start_inputs, self.segment_length
        for i in range(self.num_segments):
            c = None if controls is None else controls[:, i * seg:(i + 1) * seg]
            piece, _ = self.core.sample(n, seg, emb[:, i], c, temperature, start)
            start = piece[:, -1]
            pieces.append(piece)
        return ops.concatenate(pieces, axis=1), None
