"""The token language-model family: id windows, embedding -> core -> next-token softmax.

Models: `musicgen.models.lm.TokenLM` (RNN / GRU / LSTM cores today; attention cores slot in).
Evaluator: NLL per predicted token (nats), perplexity and next-token accuracy over the windows of
a split (every event after BOS and the closing EOS are predicted, padding never), beside two
floors computed in the same run: uniform (ln V) and the train split's unigram distribution
(add-one smoothed counts of the train split's target tokens, same eval-mode windows).
Inference wrapper: `musicgen.trained_lm.TrainedLM`. Generate modes: sample (from BOS), continue
(--primer_midi: its events kept exactly, new events appended).
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from musicgen.families.base import Family, GenerateMode
from musicgen.families.token_format import TokenBatchFormat


def _sampling_kwargs(lm, fv) -> dict:
    """Flags, else the config's sampling defaults (hparams sample_temperature / sample_top_k)."""
    hparams = lm.config.hparams
    return dict(max_events=fv.max_events,
                temperature=hparams.sample_temperature if fv.temperature is None else fv.temperature,
                top_k=hparams.sample_top_k if fv.top_k is None else fv.top_k, top_p=fv.top_p,
                seed=fv.seed)


def _sample(lm, fv, inputs):
    return lm.sample(fv.num_outputs, **_sampling_kwargs(lm, fv))


def _continue(lm, fv, inputs):
    return lm.continue_sequence(inputs[0], fv.num_outputs, primer_max_events=fv.primer_max_events,
                                **_sampling_kwargs(lm, fv))


def _check_primer(lm, fv, inputs):
    if len(lm.encode_primer(inputs[0])) < 2:
        raise ValueError("--primer_midi: no playable note (after dropping drums and pitches "
                         "outside the converter's range)")


class TokenLMFamily(Family):
    name = "token_lm"
    modes = {
        "sample": GenerateMode("sample", (), _sample, help="sample from BOS"),
        "continue": GenerateMode("continue", ("primer_midi",), _continue, check=_check_primer,
                                 help="keep --primer_midi's events and append new ones"),
    }

    def batch_format(self, config) -> TokenBatchFormat:
        return TokenBatchFormat(config)

    def build_model(self, config, seed=None):
        from musicgen.models.lm.token_lm import TokenLM
        return TokenLM(config.hparams, config.data_converter.vocab_size, seed=seed)

    def make_optimizer(self, model, config):
        return model.make_optimizer()

    def export_metadata(self, config) -> dict:
        return {"vocabulary": config.data_converter.lm_vocabulary()}

    def check_export_metadata(self, config, meta: dict, where: str) -> None:
        if "vocabulary" not in meta:
            raise ValueError(f"{where}: no token vocabulary stored beside the weights")
        config.data_converter.check_lm_vocabulary(meta["vocabulary"], where)

    # ---- evaluation -------------------------------------------------------------------------
    def evaluate(self, model, config, batches, options: dict) -> dict:
        """NLL / perplexity / accuracy summed exactly over every predicted token."""
        step = _compiled_forward(model)
        nll_sum = correct = count = 0.0
        windows = 0
        counts = np.zeros(config.data_converter.vocab_size, np.float64)
        for batch in batches:
            counts += target_counts([batch], len(counts))
            terms = step({"tokens": batch["tokens"], "lengths": batch["lengths"]})
            nll_sum += float(terms["nll_sum"])
            correct += float(terms["correct_sum"])
            count += float(terms["count"])
            windows += len(batch["lengths"])
        out = _lm_metrics(nll_sum, correct, count, windows)
        out["target_counts"] = counts  # taken by `floors` (not reported)
        return out

    def floors(self, config, make_batches, options: dict, context: dict) -> dict:
        """Uniform over the vocabulary, and the train split's unigram distribution."""
        vocab = config.data_converter.vocab_size
        eval_counts = context["trained"].pop("target_counts")
        n = float(eval_counts.sum())
        rows = {"uniform": _lm_metrics(n * math.log(vocab), n / vocab, n, None)}
        if options.get("unigram", True):
            train = target_counts(make_batches("train unigram", split="train"), vocab)
            probs = (train + 1.0) / (train.sum() + vocab)
            nll = -float((eval_counts * np.log(probs)).sum())
            rows["train unigram"] = _lm_metrics(nll, float(eval_counts[np.argmax(train)]), n, None)
            rows["train unigram"]["train_tokens"] = int(train.sum())
        return rows

    def format_table(self, results: dict) -> str:
        lines = ["| model | NLL (nats/token) | perplexity | accuracy | tokens |",
                 "|---|---|---|---|---|"]
        for name, r in results.items():
            lines.append(f"| {name} | {r['nll']:.3f} | {r['perplexity']:.2f} | "
                         f"{r['accuracy']:.3f} | {int(r['tokens']):,} |")
        return "\n".join(lines)

    # ---- inference --------------------------------------------------------------------------
    def inference(self, config_name: str, config, model, seed: Optional[int] = None,
                  batch_size: int = 8):
        from musicgen.trained_lm import TrainedLM
        return TrainedLM(config_name, config, model, seed=seed, batch_size=batch_size)

    def define_generate_flags(self, fv) -> None:
        from absl import flags
        flags.DEFINE_string("primer_midi", None, "--mode=continue: the MIDI file to continue "
                            "(token LMs).", flag_values=fv)
        flags.DEFINE_integer("primer_max_events", 0, "--mode=continue: keep only the primer's "
                             "last N events (0: all).", lower_bound=0, flag_values=fv)
        flags.DEFINE_integer("max_events", 1024, "Token LMs: most new events per output (stops "
                             "earlier at EOS).", lower_bound=1, flag_values=fv)
        flags.DEFINE_integer("top_k", None, "Token LMs: sample among the k most likely events "
                             "(0: all; default: the config's, e.g. 5 for transformer_xl_remi).",
                             lower_bound=0, flag_values=fv)
        flags.DEFINE_float("top_p", 1.0, "Token LMs: nucleus sampling mass (1: all).",
                           lower_bound=0.0, upper_bound=1.0, flag_values=fv)


def _lm_metrics(nll_sum: float, correct: float, count: float, windows) -> dict:
    nll = nll_sum / max(count, 1.0)
    out = {"nll": nll, "perplexity": math.exp(min(nll, 700.0)), "accuracy": correct / max(count, 1.0),
           "tokens": int(count), "nll_bits": nll / math.log(2.0)}
    if windows is not None:
        out["windows"] = int(windows)
    return out


def target_counts(batches, vocab_size: int) -> np.ndarray:
    """Counts of every predicted token (positions 1 .. length-1 of each window) in numpy batches."""
    counts = np.zeros(vocab_size, np.float64)
    for batch in batches:
        tokens, lengths = np.asarray(batch["tokens"]), np.asarray(batch["lengths"])
        mask = np.arange(tokens.shape[1])[None, :] < lengths[:, None]
        mask[:, 0] = False
        counts += np.bincount(tokens[mask], minlength=vocab_size)[:vocab_size]
    return counts


def _compiled_forward(model):
    """model(batch, training=False), graph-compiled on TensorFlow (eager elsewhere)."""
    import keras
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        return tf.function(lambda batch: model(batch, training=False), reduce_retracing=True)
    return lambda batch: model(batch, training=False)


TOKEN_LM = TokenLMFamily()
