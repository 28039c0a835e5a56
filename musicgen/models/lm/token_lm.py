"""TokenLM: an autoregressive language model over token ids (keras.Model, keras.ops only).

    ids (B, T) -> Embedding -> core -> Dense / tied embedding^T -> logits (B, T, vocab)

Batch format: {"tokens": (B, T) int32 windows [BOS, e_1, ..., (EOS)] padded with PAD = 0,
"lengths": (B,) int32 tokens in each window}. The model shifts: inputs tokens[:, :-1], targets
tokens[:, 1:], weighted by the padding mask, so every real event and the EOS are predicted and
padding never is. Training runs Keras' own `train_step`: `call(batch)` returns the scalar loss
terms (mean NLL per target token in nats, accuracy) and the exact sums an evaluator aggregates.

Decoding goes through `call_with_cache(token_ids, cache, index)` (the KerasHub CausalLM contract):
`initial_cache(batch, max_len)` makes the core's state (RNN: per-layer h / c; attention cores:
per-layer key / value buffers of max_len positions, written at `index`); one call feeds
`token_ids` (B, n) starting at position `index` and returns (logits (B, n, V), new cache). The
Sampler in `sampler.py` needs nothing else.

>>> from musicgen.models.lm.hparams import LMHParams
>>> lm = TokenLM(LMHParams(rnn_size=[32], embedding_size=16), vocab_size=20)
>>> terms = lm({"tokens": keras.ops.ones((2, 8), "int32"), "lengths": keras.ops.full((2,), 8)})
>>> sorted(k for k in terms if not k.endswith("_sum"))
['accuracy', 'count', 'loss', 'nll', 'perplexity']
"""
from __future__ import annotations

import math
from typing import Optional

import keras
from keras import ops
from keras.src.losses.loss import scale_loss_for_distribution

from musicgen.models.lm.cores import RecurrentCore

PAD_ID = 0
TRACKED = ("loss", "nll", "accuracy", "perplexity")


def make_core(hparams):
    """The core layer named by hparams.core."""
    if hparams.core in ("rnn", "gru", "lstm"):
        return RecurrentCore(hparams.core, hparams.rnn_size, hparams.dropout, name="core")
    if hparams.core == "transformer":
        from musicgen.models.lm.transformer import TransformerCore
        return TransformerCore(hparams, name="core")
    if hparams.core == "transformer_xl":
        from musicgen.models.lm.transformer_xl import TransformerXLCore
        return TransformerXLCore(hparams, name="core")
    raise ValueError(f"unknown token-LM core {hparams.core!r}")


class LMLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up over warmup_steps, then constant, cosine decay to min_learning_rate over
    decay_steps, or tensor2tensor's rsqrt decay (lr * sqrt(warmup_steps / step) after warm-up)."""

    def __init__(self, lr, schedule="constant", decay_steps=1, warmup_steps=0, min_lr=0.0):
        if schedule not in ("constant", "cosine", "rsqrt"):
            raise ValueError(f"lr_schedule must be 'constant', 'cosine' or 'rsqrt', got "
                             f"{schedule!r}")
        self.lr, self.schedule, self.decay_steps = float(lr), schedule, max(int(decay_steps), 1)
        self.warmup_steps, self.min_lr = int(warmup_steps), float(min_lr)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        lr = ops.convert_to_tensor(self.lr, "float32")
        if self.schedule == "cosine":
            t = ops.minimum(step / self.decay_steps, 1.0)
            lr = self.min_lr + 0.5 * (self.lr - self.min_lr) * (1.0 + ops.cos(math.pi * t))
        elif self.schedule == "rsqrt":
            lr = lr * ops.sqrt(max(self.warmup_steps, 1) / ops.maximum(step + 1.0,
                                                                    max(self.warmup_steps, 1)))
        if self.warmup_steps:
            lr = lr * ops.minimum(1.0, (step + 1.0) / self.warmup_steps)
        return lr

    def get_config(self):
        return {"lr": self.lr, "schedule": self.schedule, "decay_steps": self.decay_steps,
                "warmup_steps": self.warmup_steps, "min_lr": self.min_lr}


def make_optimizer(hparams) -> keras.optimizers.Optimizer:
    """Adam with global-norm clipping (Magenta's performance_rnn: lr 1e-3, clip norm 3)."""
    lr = LMLearningRate(hparams.learning_rate, hparams.lr_schedule, hparams.decay_steps,
                        hparams.warmup_steps, hparams.min_learning_rate)
    return keras.optimizers.Adam(learning_rate=lr, global_clipnorm=hparams.grad_clip or None)


class TokenLM(keras.Model):
    """Embedding -> core -> projection over `vocab_size` ids (see module doc).

    Args:
      hparams: LMHParams (or any object with the same attributes).
      vocab_size: ids of the converter's token vocabulary (reserved ids included).
      seed: seed of the dropout noise.
    """

    def __init__(self, hparams, vocab_size: int, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.hparams, self.vocab_size = hparams, int(vocab_size)
        self.embedding = keras.layers.Embedding(self.vocab_size, hparams.embedding_size,
                                                name="embedding")
        self.core = make_core(hparams)
        if hparams.tie_embeddings and self.core.output_size != hparams.embedding_size:
            raise ValueError(f"tie_embeddings needs the core's output size "
                             f"({self.core.output_size}) == embedding_size "
                             f"({hparams.embedding_size})")
        self.projection = None if hparams.tie_embeddings else keras.layers.Dense(
            self.vocab_size, name="projection")
        self.global_step = self.add_weight(name="global_step", shape=(), dtype="int32",
                                           initializer="zeros", trainable=False)
        self.trackers = [keras.metrics.Mean(name=n) for n in TRACKED]
        self.build_layers()

    # ---- building ---------------------------------------------------------------------------
    def build_layers(self) -> None:
        """Create every variable from the hparams alone (no data needed)."""
        self.embedding.build((None, None))
        self.core.build((None, None, self.hparams.embedding_size))
        if self.projection is not None:
            self.projection.build((None, None, self.core.output_size))
        self.built = True

    def build(self, *args, **kwargs):
        self.built = True

    def make_optimizer(self) -> keras.optimizers.Optimizer:
        return make_optimizer(self.hparams)

    # ---- forward ----------------------------------------------------------------------------
    def _project(self, h):
        if self.projection is None:
            logits = ops.matmul(h, ops.cast(ops.transpose(self.embedding.embeddings), h.dtype))
        else:
            logits = self.projection(h)
        return ops.cast(logits, "float32")

    def logits(self, token_ids, training=None):
        """Next-token logits (B, T, V) float32 for every position of `token_ids` (B, T)."""
        h, _ = self.core(self.embedding(token_ids), None, training=training)
        return self._project(h)

    def call(self, batch, training=None):
        """Loss terms of a batch: mean NLL (nats) per target token, accuracy, and exact sums."""
        tokens = ops.cast(batch["tokens"], "int32")
        t = tokens.shape[1]
        lengths = ops.cast(batch["lengths"], "int32")
        mask = ops.arange(t)[None, :] < lengths[:, None]
        x, y = tokens[:, :-1], tokens[:, 1:]
        w = ops.cast(mask[:, 1:], "float32")
        logits = self.logits(x, training=training)
        nll = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        count = ops.sum(w)
        nll_sum = ops.sum(nll * w)
        correct = ops.sum(ops.cast(ops.argmax(logits, axis=-1) == y, "float32") * w)
        mean_nll = nll_sum / ops.maximum(count, 1.0)
        if training:
            self.global_step.assign(self.global_step + 1)
        return {"loss": mean_nll, "nll": mean_nll, "accuracy": correct / ops.maximum(count, 1.0),
                "perplexity": ops.exp(mean_nll), "count": count, "nll_sum": nll_sum,
                "correct_sum": correct}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return scale_loss_for_distribution(sum([y_pred["loss"]] + list(self.losses)))

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        for tracker in self.trackers:
            tracker.update_state(y_pred[tracker.name])
        return {t.name: t.result() for t in self.trackers}

    # ---- decoding ---------------------------------------------------------------------------
    def initial_cache(self, batch_size: int, max_length: int):
        """The decoding cache of an empty prefix (RNN: zero states; attention: key/value buffers
        of `max_length` positions)."""
        return self.core.initial_state(batch_size, max_length)

    def call_with_cache(self, token_ids, cache, index):
        """Feed `token_ids` (B, n) at positions index .. index+n-1: (logits (B, n, V), cache)."""
        h, cache = self.core(self.embedding(ops.cast(token_ids, "int32")), cache, index=index,
                             training=False)
        return self._project(h), cache
