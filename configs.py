"""CONFIG_MAP: config name -> Config (family, model, data converter, hparams, default data).

MusicVAE / GrooVAE entries follow Magenta's music_vae/configs.py: hyperparameters are Magenta's
(lstm_models.get_default_hparams merged with each config's own). Token language models (family
`TOKEN_LM`) are at the end. The schema, hparams parsing, lookup and model building live in
`musicgen/config.py`; a config here is one short entry.
`hierdec-mel_4bar` and `musicvae_4bar_drums` are not in Magenta's configs.py: they are 4-bar
variants of hierdec-mel_16bar and cat-drums_2bar_small (documented at their definitions).

    >>> import configs
    >>> cfg = configs.update_config(configs.CONFIG_MAP["groovae_4bar"], "batch_size=64,z_size=32")
    >>> model = configs.build_model(cfg)          # doctest: +SKIP

Only the CLIs (train / generate / evaluate, pipelines) read CONFIG_MAP; musicgen/ never imports
this module. Converter modules are imported when this module loads; one that cannot be imported
yields a `MissingConverter` placeholder that names the module and the error on first use.
"""
from __future__ import annotations

import dataclasses
import functools

from musicgen.config import (Config, converter, converter_constant, get_config,  # noqa: F401
                             parse_hparams, update_config)
from musicgen.config import build_model  # noqa: F401
from musicgen.families.token_lm import TOKEN_LM
from musicgen.families.vae import VAE
from musicgen.models.lm.hparams import LMHParams
from musicgen.models.lstm_decoders import (CategoricalLstmDecoder, GrooveLstmDecoder,
                                           HierarchicalLstmDecoder, MultiOutCategoricalLstmDecoder,
                                           SplitMultiOutLstmDecoder)
from musicgen.models.lstm_encoders import BidirectionalLstmEncoder
from musicgen.models.music_vae import MusicVAEBuilder
from musicgen.models.vae_hparams import VAEHParams


HParams = VAEHParams  # the MusicVAE family's hyperparameters (musicgen/models/vae_hparams.py)
_converter, _constant = converter, converter_constant


def _augmenter(transpose_range):
    """A NoteSequenceAugmenter if the melody converter module provides one (else None)."""
    cls = _constant("melody", "NoteSequenceAugmenter")
    return cls(transpose_range=transpose_range) if cls else None


def _vae(model, **kwargs) -> Config:
    return Config(family=VAE, model=model, **kwargs)


def _lm(hparams: LMHParams, **converter_kwargs) -> Config:
    return Config(family=TOKEN_LM, model=None, hparams=hparams,
                  data_converter=_converter("performance", "PerformanceConverter",
                                            **dict(PERFORMANCE_WINDOWS, **converter_kwargs)),
                  default_dataset=PERFORMANCE_DATASET)


def _remi_lm(hparams: LMHParams, segments: int) -> Config:
    """REMI (with chords) windows of `segments` x segment_len inputs: whole bars of one piece,
    BOS + up to segments * segment_len - 1 events + EOS = max_seq_len tokens."""
    events = segments * hparams.segment_len - 1
    return Config(family=TOKEN_LM, model=None, hparams=hparams,
                  data_converter=_converter("remi", "RemiConverter", use_chords=True,
                                            max_tokens=events),
                  default_dataset=PERFORMANCE_DATASET)


# ---- model builders ---------------------------------------------------------------------------
def _flat(decoder_fn) -> MusicVAEBuilder:
    return MusicVAEBuilder(BidirectionalLstmEncoder, decoder_fn)


def _hierdec(core_fn, level_lengths) -> MusicVAEBuilder:
    return _flat(functools.partial(HierarchicalLstmDecoder, core_decoder=core_fn,
                                   level_lengths=level_lengths, disable_autoregression=True))


TRIO_OUTPUT_DEPTHS = [90, 90, 512]  # melody, bass, drums
_split_trio = functools.partial(SplitMultiOutLstmDecoder,
                                core_decoders=[CategoricalLstmDecoder] * 3,
                                output_depths=TRIO_OUTPUT_DEPTHS)

MELODY_DATASET = "maestro+nottingham"  # melodies: Nottingham tunes + MAESTRO top lines
DRUMS_DATASET = "groove"              # the only drum data we ship
TRIO_DATASET = None                   # no shared dataset has melody + bass + drums tracks

CONFIG_MAP: dict = {}

# ---- melody ----------------------------------------------------------------------------------
_mel_2bar_converter = _converter("melody", "OneHotMelodyConverter",
                                 valid_programs=_constant("melody", "MEL_PROGRAMS"),
                                 skip_polyphony=False, max_bars=100, slice_bars=2,
                                 steps_per_quarter=4)
for _name, _z, _enc, _dec, _beta in (("cat-mel_2bar_small", 256, [512], [256, 256], 0.2),
                                     ("cat-mel_2bar_big", 512, [2048], [2048] * 3, 0.5)):
    CONFIG_MAP[_name] = _vae(
        model=_flat(CategoricalLstmDecoder),
        data_converter=_mel_2bar_converter,
        hparams=HParams(batch_size=512, max_seq_len=32, z_size=_z, enc_rnn_size=_enc,
                         dec_rnn_size=_dec, free_bits=0, max_beta=_beta, beta_rate=0.99999,
                         sampling_schedule="inverse_sigmoid", sampling_rate=1000),
        note_sequence_augmenter=_augmenter((-5, 5)),
        default_dataset=MELODY_DATASET)


def _mel_converter(slice_bars: int):
    return _converter("melody", "OneHotMelodyConverter", skip_polyphony=False, max_bars=100,
                      slice_bars=slice_bars, steps_per_quarter=4)


_mel_16bar_converter = _mel_converter(16)
_mel_16bar_hparams = dict(batch_size=512, max_seq_len=256, z_size=512, enc_rnn_size=[2048, 2048],
                          free_bits=256, max_beta=0.2)
CONFIG_MAP["flat-mel_16bar"] = _vae(
    model=_flat(CategoricalLstmDecoder), data_converter=_mel_16bar_converter,
    hparams=HParams(dec_rnn_size=[2048] * 3, **_mel_16bar_hparams),
    default_dataset=MELODY_DATASET)
CONFIG_MAP["hierdec-mel_16bar"] = _vae(
    model=_hierdec(CategoricalLstmDecoder, [16, 16]), data_converter=_mel_16bar_converter,
    hparams=HParams(dec_rnn_size=[1024, 1024], **_mel_16bar_hparams),
    default_dataset=MELODY_DATASET)
# Not in Magenta: the source material's 4-bar hierarchical melody VAE (4 conductor steps of one
# 16-step bar each) at the sizes of its Groove runs (../shared/papers/README.md): BiLSTM 512
# encoder, conductor and core decoder LSTMs [256, 256], z 256, free_bits 48, max_beta 0.2.
# hierdec-mel_16bar's sizes (encoder [2048, 2048]) would be ~270 MB in float16.
CONFIG_MAP["hierdec-mel_4bar"] = _vae(
    model=_hierdec(CategoricalLstmDecoder, [4, 16]), data_converter=_mel_converter(4),
    hparams=HParams(batch_size=512, max_seq_len=64, z_size=256, enc_rnn_size=[512],
                    dec_rnn_size=[256, 256], free_bits=48, max_beta=0.2),
    default_dataset=MELODY_DATASET)

# ---- drums -----------------------------------------------------------------------------------
_drums_hparams = dict(batch_size=512, max_seq_len=32, free_bits=48, max_beta=0.2,
                      sampling_schedule="inverse_sigmoid", sampling_rate=1000)


def _drums_converter(bars: int):
    return _converter("drums", "DrumsConverter", max_bars=100, slice_bars=bars,
                      steps_per_quarter=4, roll_input=True)


for _name, _z, _enc, _dec in (("cat-drums_2bar_small", 256, [512], [256, 256]),
                              ("cat-drums_2bar_big", 512, [2048], [2048] * 3)):
    CONFIG_MAP[_name] = _vae(
        model=_flat(CategoricalLstmDecoder), data_converter=_drums_converter(2),
        hparams=HParams(z_size=_z, enc_rnn_size=_enc, dec_rnn_size=_dec, **_drums_hparams),
        default_dataset=DRUMS_DATASET)
# Not in Magenta's configs.py: cat-drums_2bar_small on 4-bar windows (64 steps).
CONFIG_MAP["musicvae_4bar_drums"] = _vae(
    model=_flat(CategoricalLstmDecoder), data_converter=_drums_converter(4),
    hparams=HParams(z_size=256, enc_rnn_size=[512], dec_rnn_size=[256, 256],
                     **dict(_drums_hparams, max_seq_len=64)),
    default_dataset=DRUMS_DATASET)

# The source material's 4-bar hierarchical drum VAEs (level_lengths [8, 8], the Groove runs'
# sizes), experiments (a) and (b) of bench/four_experiments.py: (a) a categorical core decoder on
# GrooveConverter tensors (hits + velocities + offsets, 27 wide: the softmax cannot model them;
# kept as the documented failure), (b) the same model on DrumsConverter's one-hot drum classes.
_hier_drums_hparams = HParams(batch_size=512, max_seq_len=64, z_size=256, enc_rnn_size=[512],
                              dec_rnn_size=[256, 256], free_bits=48, max_beta=0.2)
CONFIG_MAP["hierdec-drums_4bar"] = _vae(
    model=_hierdec(CategoricalLstmDecoder, [8, 8]), data_converter=_drums_converter(4),
    hparams=_hier_drums_hparams, default_dataset=DRUMS_DATASET)

# ---- trio ------------------------------------------------------------------------------------
_trio_converter = _converter("trio", "TrioConverter", steps_per_quarter=4, slice_bars=16,
                             gap_bars=2)
CONFIG_MAP["flat-trio_16bar"] = _vae(
    model=_flat(functools.partial(MultiOutCategoricalLstmDecoder,
                                  output_depths=TRIO_OUTPUT_DEPTHS)),
    data_converter=_trio_converter,
    hparams=HParams(batch_size=256, max_seq_len=256, z_size=512, enc_rnn_size=[2048, 2048],
                     dec_rnn_size=[2048] * 3),
    default_dataset=TRIO_DATASET)
CONFIG_MAP["hierdec-trio_16bar"] = _vae(
    model=_hierdec(_split_trio, [16, 16]), data_converter=_trio_converter,
    hparams=HParams(batch_size=256, max_seq_len=256, z_size=512, enc_rnn_size=[2048, 2048],
                     dec_rnn_size=[1024, 1024], free_bits=256, max_beta=0.2),
    default_dataset=TRIO_DATASET)

# ---- GrooVAE ---------------------------------------------------------------------------------
_ROLAND = _constant("groove", "ROLAND_DRUM_PITCH_CLASSES")
_REDUCED = _constant("groove", "REDUCED_DRUM_PITCH_CLASSES")


def _groove(bars: int, tfds_name: str, **converter_kwargs) -> Config:
    return _vae(
        model=_flat(GrooveLstmDecoder),
        data_converter=_converter("groove", "GrooveConverter", split_bars=bars,
                                  steps_per_quarter=4, quarters_per_bar=4,
                                  max_tensors_per_notesequence=20, pitch_classes=_ROLAND,
                                  inference_pitch_classes=_REDUCED,
                                  # Magenta trained on TFDS groove/<N>bar-midionly: N-bar windows
                                  # sliding by one bar. From full-file shards, hop_size=16 steps
                                  # (one 4/4 bar) gives the same windows (19,552 for 4 bars).
                                  hop_size=16, **converter_kwargs),
        hparams=HParams(batch_size=512, max_seq_len=16 * bars, z_size=256, enc_rnn_size=[512],
                         dec_rnn_size=[256, 256], max_beta=0.2, free_bits=48,
                         dropout_keep_prob=0.3),
        tfds_name=tfds_name, default_dataset=DRUMS_DATASET)


CONFIG_MAP["groovae_4bar"] = _groove(4, "groove/4bar-midionly")
# Experiment (a) (see hierdec-drums_4bar): GrooVAE's data through a categorical hierarchical decoder.
CONFIG_MAP["hierdec-groove_4bar_categorical"] = dataclasses.replace(
    CONFIG_MAP["groovae_4bar"], model=_hierdec(CategoricalLstmDecoder, [8, 8]),
    hparams=_hier_drums_hparams)
CONFIG_MAP["groovae_2bar_humanize"] = _groove(2, "groove/2bar-midionly", humanize=True)
CONFIG_MAP["groovae_2bar_tap_fixed_velocity"] = _groove(2, "groove/2bar-midionly", tapify=True,
                                                        fixed_velocities=True)
CONFIG_MAP["groovae_2bar_add_closed_hh"] = _groove(2, "groove/2bar-midionly",
                                                   add_instruments=[2])

# ---- token language models over performance events --------------------------------------------
# Magenta's performance pipeline: sustain applied, windows of 32..512 events, time stretch
# 0.95..1.05 and transposition +-3 in training only (PerformanceConverter defaults), full MIDI
# range: 388 event classes + PAD / EOS / BOS = 391 ids.
PERFORMANCE_DATASET = "maestro"
PERFORMANCE_WINDOWS = dict(max_events=512, min_events=32)

# Magenta's performance_rnn: LSTM 3x512, batch 64, lr 1e-3, gradient clip norm 3.
CONFIG_MAP["performance_rnn"] = _lm(LMHParams(core="lstm", rnn_size=[512, 512, 512]))
# CPU-sized (bundled; trained on the MAESTRO subset's train split on 2 CPU cores): 2x256 LSTM,
# 128-wide embedding, batch 32, Adam 1e-3 cosine-decayed to 1e-4 over 5,000 steps.
CONFIG_MAP["performance_rnn_small"] = _lm(LMHParams(
    core="lstm", rnn_size=[256, 256], embedding_size=128, batch_size=32, lr_schedule="cosine",
    decay_steps=5000, min_learning_rate=1e-4))
# Plain autoregressive LMs over the same events: one core each, 2x512.
for _core in ("rnn", "gru", "lstm"):
    CONFIG_MAP[f"{_core}_lm"] = _lm(LMHParams(core=_core, rnn_size=[512, 512]))

# ---- attention LMs over performance events ----------------------------------------------------
# Music Transformer, Magenta score2perf's MAESTRO setup (transformer_tpu hparams with
# num_hidden_layers=16 and max_target_seq_length=2048, as Magenta's released piano model):
# 16 pre-LN layers, width 512, 8 heads, FFN 2048 (ReLU), relative attention up to L/2 = 1024,
# dropout 0.1, embedding tied to the softmax; tensor2tensor's schedule (linear warm-up over 8,000
# steps, then rsqrt decay; peak 2.0 * 512^-0.5 * 8000^-0.5 = 1e-3).
_MT = dict(core="transformer", embedding_size=512, num_heads=8, filter_size=2048,
           activation="relu", dropout=0.1, attention_dropout=0.1, tie_embeddings=True)
CONFIG_MAP["music_transformer"] = _lm(LMHParams(
    **_MT, num_layers=16, max_relative_position=1024, max_seq_len=2048, batch_size=8,
    learning_rate=1e-3, lr_schedule="rsqrt", warmup_steps=8000, grad_clip=0.0),
    max_events=2046)
# CPU-sized: 4 layers, width 256, 8 heads, FFN 1024, the 512-event windows of
# performance_rnn_small (so their NLLs compare), relative attention up to 256.
CONFIG_MAP["music_transformer_small"] = _lm(LMHParams(
    **dict(_MT, embedding_size=256, filter_size=1024), num_layers=4, max_relative_position=256,
    batch_size=16, learning_rate=1e-3, lr_schedule="cosine", warmup_steps=50, decay_steps=600,
    min_learning_rate=1e-4, grad_clip=1.0))

# Music GPT-2 (the source material's size): GPT-2 layout (pre-LN, GELU, tied output projection)
# with relative positions; 512-d, 16 heads, 8 layers, attention length 2,000, Adam at 1e-4,
# batch 4 (4 GPUs x 1 in the source).
_GPT2 = dict(core="transformer", activation="gelu", tie_embeddings=True, dropout=0.1,
             attention_dropout=0.1)
CONFIG_MAP["music_gpt2"] = _lm(LMHParams(
    **_GPT2, embedding_size=512, num_heads=16, num_layers=8, filter_size=2048,
    max_relative_position=1000, max_seq_len=2000, batch_size=4, learning_rate=1e-4,
    grad_clip=1.0), max_events=1998)
CONFIG_MAP["music_gpt2_small"] = _lm(LMHParams(
    **_GPT2, embedding_size=256, num_heads=8, num_layers=4, filter_size=1024,
    max_relative_position=256, batch_size=16, learning_rate=1e-3, lr_schedule="cosine",
    warmup_steps=200, decay_steps=6000, min_learning_rate=1e-4, grad_clip=1.0))

# ---- Transformer-XL over REMI -----------------------------------------------------------------
# YatingMusic/remi: 12 layers, d_model 512, 8 heads, d_ff 2048, x_len = mem_len = 512, dropout
# 0.1, Adam 2e-4 with cosine decay, batch 4, groups of 5 segments of one piece per batch row
# (memory reset per group); sampled at temperature 1.2 with top-k 5.
_XL = dict(core="transformer_xl", activation="relu", dropout=0.1, attention_dropout=0.1,
           lr_schedule="cosine", sample_temperature=1.2, sample_top_k=5)
CONFIG_MAP["transformer_xl_remi"] = _remi_lm(LMHParams(
    **_XL, num_layers=12, embedding_size=512, num_heads=8, filter_size=2048, segment_len=512,
    mem_len=512, max_seq_len=5 * 512 + 1, batch_size=4, learning_rate=2e-4,
    decay_steps=200000, grad_clip=0.0), segments=5)
# CPU-sized: 4 layers, 256 wide, segments of 128 with 128 memory, 4 segments per window.
CONFIG_MAP["transformer_xl_remi_small"] = _remi_lm(LMHParams(
    **_XL, num_layers=4, embedding_size=256, num_heads=8, filter_size=1024, segment_len=128,
    mem_len=128, max_seq_len=4 * 128 + 1, batch_size=16, learning_rate=1e-3, warmup_steps=50,
    decay_steps=800, min_learning_rate=1e-4, grad_clip=1.0), segments=4)
