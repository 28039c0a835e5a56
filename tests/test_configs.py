"""configs.py: Magenta's hyperparameters, hparam overrides, and every config building + training."""
import math

import numpy as np
import pytest

import configs
from musicgen import config as config_lib
from model_helpers import random_batch, tiny_config

# (batch_size, max_seq_len, z_size, enc_rnn_size, dec_rnn_size, free_bits, max_beta, beta_rate,
#  sampling_schedule, sampling_rate, dropout_keep_prob) from Magenta's music_vae/configs.py.
MAGENTA = {
    "cat-mel_2bar_small": (512, 32, 256, [512], [256, 256], 0, 0.2, 0.99999, "inverse_sigmoid", 1000, 1.0),
    "cat-mel_2bar_big": (512, 32, 512, [2048], [2048] * 3, 0, 0.5, 0.99999, "inverse_sigmoid", 1000, 1.0),
    "flat-mel_16bar": (512, 256, 512, [2048, 2048], [2048] * 3, 256, 0.2, 0.0, "constant", 0.0, 1.0),
    "hierdec-mel_16bar": (512, 256, 512, [2048, 2048], [1024, 1024], 256, 0.2, 0.0, "constant", 0.0, 1.0),
    # not Magenta's: the source material's 4-bar hierarchical runs, at its Groove runs' sizes
    "hierdec-mel_4bar": (512, 64, 256, [512], [256, 256], 48, 0.2, 0.0, "constant", 0.0, 1.0),
    "hierdec-drums_4bar": (512, 64, 256, [512], [256, 256], 48, 0.2, 0.0, "constant", 0.0, 1.0),
    "hierdec-groove_4bar_categorical": (512, 64, 256, [512], [256, 256], 48, 0.2, 0.0, "constant",
                                        0.0, 1.0),
    "cat-drums_2bar_small": (512, 32, 256, [512], [256, 256], 48, 0.2, 0.0, "inverse_sigmoid", 1000, 1.0),
    "cat-drums_2bar_big": (512, 32, 512, [2048], [2048] * 3, 48, 0.2, 0.0, "inverse_sigmoid", 1000, 1.0),
    "musicvae_4bar_drums": (512, 64, 256, [512], [256, 256], 48, 0.2, 0.0, "inverse_sigmoid", 1000, 1.0),
    "flat-trio_16bar": (256, 256, 512, [2048, 2048], [2048] * 3, 0, 1.0, 0.0, "constant", 0.0, 1.0),
    "hierdec-trio_16bar": (256, 256, 512, [2048, 2048], [1024, 1024], 256, 0.2, 0.0, "constant", 0.0, 1.0),
    "groovae_4bar": (512, 64, 256, [512], [256, 256], 48, 0.2, 0.0, "constant", 0.0, 0.3),
    "groovae_2bar_humanize": (512, 32, 256, [512], [256, 256], 48, 0.2, 0.0, "constant", 0.0, 0.3),
    "groovae_2bar_tap_fixed_velocity": (512, 32, 256, [512], [256, 256], 48, 0.2, 0.0, "constant", 0.0, 0.3),
    "groovae_2bar_add_closed_hh": (512, 32, 256, [512], [256, 256], 48, 0.2, 0.0, "constant", 0.0, 0.3),
}
FIELDS = ("batch_size", "max_seq_len", "z_size", "enc_rnn_size", "dec_rnn_size", "free_bits",
          "max_beta", "beta_rate", "sampling_schedule", "sampling_rate", "dropout_keep_prob")


# Token LMs: (core, rnn_size, batch_size, learning_rate, grad_clip).
LMS = {
    "performance_rnn": ("lstm", [512, 512, 512], 64, 1e-3, 3.0),  # Magenta's performance_rnn
    "performance_rnn_small": ("lstm", [256, 256], 32, 1e-3, 3.0),
    "rnn_lm": ("rnn", [512, 512], 64, 1e-3, 3.0),
    "gru_lm": ("gru", [512, 512], 64, 1e-3, 3.0),
    "lstm_lm": ("lstm", [512, 512], 64, 1e-3, 3.0),
}
# Attention LMs (their published sizes are checked in test_transformers.py): core, width, layers.
ATTENTION_LMS = {
    "music_transformer": ("transformer", 512, 16), "music_transformer_small": ("transformer", 256, 4),
    "music_gpt2": ("transformer", 512, 8), "music_gpt2_small": ("transformer", 256, 4),
    "transformer_xl_remi": ("transformer_xl", 512, 12),
    "transformer_xl_remi_small": ("transformer_xl", 256, 4),
}


def test_config_map_has_exactly_the_expected_configs():
    assert sorted(configs.CONFIG_MAP) == sorted(list(MAGENTA) + list(LMS) + list(ATTENTION_LMS))
    assert {n for n, c in configs.CONFIG_MAP.items() if c.family.name == "vae"} == set(MAGENTA)
    assert {n for n, c in configs.CONFIG_MAP.items() if c.family.name == "token_lm"} == (
        set(LMS) | set(ATTENTION_LMS))
    for name, (core, width, layers) in ATTENTION_LMS.items():
        hp = configs.CONFIG_MAP[name].hparams
        assert (hp.core, hp.embedding_size, hp.num_layers) == (core, width, layers), name


@pytest.mark.parametrize("name", sorted(LMS))
def test_token_lm_hparams_and_performance_windows(name):
    cfg = configs.CONFIG_MAP[name]
    hp = cfg.hparams
    assert (hp.core, hp.rnn_size, hp.batch_size, hp.learning_rate, hp.grad_clip) == LMS[name]
    conv = cfg.data_converter
    # Magenta's performance pipeline: 388 event classes, 32..512-event windows, + PAD/EOS/BOS.
    assert conv.num_event_classes == 388 and conv.vocab_size == 391
    assert hp.max_seq_len == 512 + 2 and (conv._max_events, conv._min_events) == (512, 32)


@pytest.mark.parametrize("name", sorted(MAGENTA))
def test_paper_hparams_are_magentas(name):
    hp = configs.CONFIG_MAP[name].hparams
    assert tuple(getattr(hp, f) for f in FIELDS) == MAGENTA[name]
    # Shared Magenta defaults.
    assert (hp.learning_rate, hp.decay_rate, hp.min_learning_rate) == (0.001, 0.9999, 0.00001)
    assert (hp.grad_clip, hp.clip_mode, hp.grad_norm_clip_to_zero) == (1.0, "global_norm", 10000)


def test_converters_and_defaults():
    cm = configs.CONFIG_MAP
    assert cm["groovae_4bar"].data_converter.output_depth == 27
    assert cm["groovae_4bar"].tfds_name == "groove/4bar-midionly"
    assert cm["groovae_2bar_humanize"].tfds_name == "groove/2bar-midionly"
    assert cm["cat-mel_2bar_small"].data_converter.output_depth == 90
    assert cm["flat-trio_16bar"].data_converter.output_depth == 90 + 90 + 512
    assert cm["cat-drums_2bar_small"].data_converter.output_depth == 512
    assert cm["cat-mel_2bar_small"].note_sequence_augmenter is not None  # transpose (-5, 5)
    assert cm["groovae_4bar"].note_sequence_augmenter is None
    for name, cfg in cm.items():
        assert not isinstance(cfg.data_converter, config_lib.MissingConverter), name
        expected = {"groovae": "groove", "groove": "groove", "drums": "groove", "mel": "maestro+nottingham",
                    "trio": None, "performance": "maestro", "_lm": "maestro",
                    "transformer": "maestro", "gpt2": "maestro"}
        key = next(k for k in expected if k in name)
        assert cfg.default_dataset == expected[key], name


def test_update_config_parses_types_and_copies():
    base = configs.CONFIG_MAP["groovae_4bar"]
    cfg = configs.update_config(base, "z_size=8, enc_rnn_size=[16,16],free_bits=0.5,"
                                      "sampling_schedule=inverse_sigmoid,conditional=false")
    hp = cfg.hparams
    assert (hp.z_size, hp.enc_rnn_size, hp.free_bits) == (8, [16, 16], 0.5)
    assert (hp.sampling_schedule, hp.conditional) == ("inverse_sigmoid", False)
    assert base.hparams.z_size == 256 and cfg.data_converter is base.data_converter
    assert configs.update_config(base, {"z_size": 3}).hparams.z_size == 3


def test_update_config_unknown_hparam_lists_valid_names():
    with pytest.raises(ValueError) as e:
        configs.update_config(configs.CONFIG_MAP["groovae_4bar"], "z_size=8,zsize=3")
    assert "zsize" in str(e.value) and "valid hparams" in str(e.value)
    assert "enc_rnn_size" in str(e.value) and "max_beta" in str(e.value)
    with pytest.raises(ValueError, match="z_size: cannot parse"):
        configs.update_config(configs.CONFIG_MAP["groovae_4bar"], "z_size=big")
    with pytest.raises(ValueError, match="name=value"):
        configs.update_config(configs.CONFIG_MAP["groovae_4bar"], "z_size")


def test_get_config_unknown_lists_valid_names():
    with pytest.raises(ValueError) as e:
        configs.get_config("groovae_8bar")
    assert "groovae_4bar" in str(e.value) and "hierdec-mel_16bar" in str(e.value)


def test_hierarchical_length_mismatch_is_rejected():
    cfg = configs.update_config(configs.CONFIG_MAP["hierdec-mel_16bar"], "max_seq_len=128")
    with pytest.raises(ValueError, match="level_lengths"):
        configs.build_model(cfg)


@pytest.mark.parametrize("name", ["hierdec-mel_16bar", "hierdec-trio_16bar"])
def test_full_length_hierarchies_build(name):
    """The 16-bar hierarchies train below with 2 conductor steps; here at their real length."""
    cfg = tiny_config(name, short=False)
    model = configs.build_model(cfg, compile=False)
    assert model.decoder.level_lengths == [16, 16] and model.decoder.num_segments == 16
    emb = model.decoder.segment_embeddings(np.zeros((3, 4), "float32"))
    assert tuple(emb.shape) == (3 * 16, 8)


@pytest.mark.parametrize("name", sorted(MAGENTA))
def test_every_config_builds_and_trains_one_step(name):
    """Tiny layers and short sequences (see model_helpers.tiny_config), real structure."""
    cfg = tiny_config(name)
    model = configs.build_model(cfg, compile=False, seed=1)
    model.compile(optimizer=model.make_optimizer(), run_eagerly=True)  # no tracing: faster here
    before = [w.copy() for w in model.get_weights()]
    logs = model.train_on_batch(random_batch(cfg), return_dict=True)
    assert np.isfinite(logs["loss"]) and logs["loss"] > 0
    assert math.isclose(logs["loss"], logs["recon_loss"] + logs["beta"] * logs["kl_loss"],
                        rel_tol=1e-4)
    assert 0.0 <= logs["accuracy"] <= 1.0
    assert int(model.global_step.numpy()) == 1
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert changed >= len(model.trainable_weights) - 2  # every layer moved (biases may not)
    assert model.uses_scheduled_sampling == (cfg.hparams.sampling_schedule != "constant")


@pytest.mark.parametrize("override, message", [
    ("learning_rate=-1", r"learning_rate=-1.0 must be in \(0, 1\]"),
    ("learning_rate=1e10", r"learning_rate=10000000000.0 must be in \(0, 1\]"),
    ("learning_rate=nan", "learning_rate=nan is not a finite number"),
    ("free_bits=inf", "free_bits=inf is not a finite number"),
    ("batch_size=0", "batch_size=0 must be >= 1"),
    ("enc_rnn_size=[16,0]", "enc_rnn_size=0 must be >= 1"),
])
def test_hparams_out_of_range_are_refused_naming_the_hparam(override, message):
    with pytest.raises(ValueError, match=message):
        configs.update_config(configs.CONFIG_MAP["groovae_4bar"], override)


def test_lm_hparams_ranges_and_every_default_passes():
    import dataclasses
    with pytest.raises(ValueError, match="dropout=1.0 must be in"):
        configs.update_config(configs.CONFIG_MAP["music_transformer_small"], "dropout=1.0")
    for name, cfg in configs.CONFIG_MAP.items():
        for f in dataclasses.fields(cfg.hparams):
            config_lib.check_hparam_range(f.name, getattr(cfg.hparams, f.name))
