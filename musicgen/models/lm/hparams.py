"""Hyperparameters of the token language models (the `Config.hparams` of the token-LM family)."""
from __future__ import annotations

import dataclasses
from typing import List

CORES = ("rnn", "gru", "lstm", "transformer", "transformer_xl")


@dataclasses.dataclass(frozen=True)
class LMHParams:
    """Token-LM hyperparameters; override any of them with --hparams 'a=1,b=[256,256]'.

    max_seq_len is in tokens: BOS + up to max_events events + EOS.
    """

    core: str = "lstm"                 # one of CORES
    rnn_size: List[int] = dataclasses.field(default_factory=lambda: [512, 512, 512])
    embedding_size: int = 256          # token embedding width (= model width of attention cores)
    # attention cores (transformer: Music Transformer / Music GPT-2; transformer_xl)
    num_layers: int = 6
    num_heads: int = 8
    filter_size: int = 2048            # FFN inner width
    activation: str = "relu"           # FFN activation: relu | gelu
    max_relative_position: int = 256   # transformer: learned relative embeddings per distance
    attention_dropout: float = 0.0     # on the attention weights
    segment_len: int = 512             # transformer_xl: x_len, tokens per segment
    mem_len: int = 512                 # transformer_xl: cached previous-segment states per layer
    tie_embeddings: bool = False       # projection = embedding matrix transposed (needs
                                       # rnn_size[-1] == embedding_size)
    dropout: float = 0.0               # between layers and before the projection (training only)
    batch_size: int = 64
    max_seq_len: int = 514             # tokens per window (512 events + BOS + EOS)
    learning_rate: float = 0.001
    grad_clip: float = 3.0             # global-norm gradient clipping (Magenta's clip_norm)
    lr_schedule: str = "constant"      # constant | cosine | rsqrt (warm-up, then * sqrt(warmup/step))
    decay_steps: int = 100000          # cosine: steps to reach min_learning_rate
    warmup_steps: int = 0
    min_learning_rate: float = 0.0
    sample_temperature: float = 1.0    # generate's defaults for this model (flags override)
    sample_top_k: int = 0

    def values(self) -> dict:
        return dataclasses.asdict(self)
