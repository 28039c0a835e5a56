"""MusicVAE / GrooVAE hyperparameters (the `Config.hparams` of the VAE family)."""
from __future__ import annotations

import dataclasses
from typing import List


@dataclasses.dataclass(frozen=True)
class VAEHParams:
    """Magenta's MusicVAE hyperparameters (base_model + lstm_models defaults)."""

    max_seq_len: int = 32              # longer sequences are truncated
    z_size: int = 32                   # latent size
    free_bits: float = 0.0             # KL bits not penalised
    max_beta: float = 1.0              # maximum KL weight
    beta_rate: float = 0.0             # beta = (1 - beta_rate**step) * max_beta
    batch_size: int = 512
    grad_clip: float = 1.0
    clip_mode: str = "global_norm"     # or "value"
    grad_norm_clip_to_zero: float = 10000.0  # global norm above this: the step is skipped
    learning_rate: float = 0.001
    decay_rate: float = 0.9999         # lr = (lr0 - min_lr) * decay_rate**step + min_lr
    min_learning_rate: float = 0.00001
    conditional: bool = True
    dec_rnn_size: List[int] = dataclasses.field(default_factory=lambda: [512])
    enc_rnn_size: List[int] = dataclasses.field(default_factory=lambda: [256])
    dropout_keep_prob: float = 1.0
    sampling_schedule: str = "constant"  # constant, exponential, inverse_sigmoid
    sampling_rate: float = 0.0
    use_cudnn: bool = False            # deprecated in Magenta, ignored
    residual_encoder: bool = False     # not supported (no config uses it)
    residual_decoder: bool = False
    control_preprocessing_rnn_size: List[int] = dataclasses.field(default_factory=lambda: [256])
    # GrooVAE sampling (not in Magenta, whose samples are the regression means): the squared-error
    # velocity / offset heads are Gaussians of fixed sd; sampling draws each sampled hit's velocity
    # (0..1 units) and offset (-1..1 units) from N(mean, (sd * sqrt(T))^2), the Gaussian tempered by
    # the temperature T. 0 = Magenta (the means). Set from measured residuals (model card).
    velocity_sample_sd: float = 0.0
    offset_sample_sd: float = 0.0
    # The velocity head regresses velocity x hit (target 0 where no hit), so its output is
    # P(hit) x E[velocity | hit]: sampled hits come out too quiet. True: divide by the (untempered)
    # hit probability for E[velocity | hit]. False = Magenta.
    velocity_given_hit: bool = False

    def values(self) -> dict:
        return dataclasses.asdict(self)
