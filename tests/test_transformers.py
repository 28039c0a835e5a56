"""Attention token LMs: relative attention by skewing == the naive gather, cached decoding == the
whole-prefix recomputation (Music Transformer / Music GPT-2 / Transformer-XL), Transformer-XL memory
== full causal attention where the two coincide (and stops the gradient), REMI's lenient decoding,
and the configs' published sizes."""
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from musicgen.config import get_config
from musicgen.models.lm import relative_attention as ra
from musicgen.models.lm.hparams import LMHParams
from musicgen.models.lm.sampler import Sampler
from musicgen.models.lm.token_lm import TokenLM

V = 13
TINY = dict(num_layers=2, num_heads=2, embedding_size=8, filter_size=16)
CORES = {
    "music_transformer": LMHParams(core="transformer", max_relative_position=5, **TINY),
    "music_gpt2": LMHParams(core="transformer", activation="gelu", tie_embeddings=True,
                            max_relative_position=32, **TINY),
    "transformer_xl": LMHParams(core="transformer_xl", segment_len=4, mem_len=3, **TINY),
    "transformer_xl_long_memory": LMHParams(core="transformer_xl", segment_len=3, mem_len=7,
                                            **TINY),
}


def _np(x):
    return ops.convert_to_numpy(x)


def _tokens(batch, length, seed=0):
    return np.random.default_rng(seed).integers(0, V, (batch, length)).astype(np.int32)


# ---- relative attention ----------------------------------------------------------------------
@pytest.mark.parametrize("length,max_rel", [(7, 5), (9, 9), (6, 20), (1, 3)])
def test_skewed_relative_logits_equal_the_naive_gather(length, max_rel):
    rng = np.random.default_rng(length)
    q = rng.normal(size=(2, 3, length, 4)).astype(np.float32)
    emb = rng.normal(size=(3, max_rel, 4)).astype(np.float32)
    skew, naive = _np(ra.skewed_relative_logits(q, emb)), _np(ra.naive_relative_logits(q, emb))
    causal = np.tril(np.ones((length, length), bool))
    np.testing.assert_allclose(skew[..., causal], naive[..., causal], atol=1e-5)
    # The causal part is every q_i . E[i - j] (0 beyond max_rel) -- checked entry by entry.
    i, j = 5 % length, 0
    expect = q[1, 2, i] @ emb[2, i - j] if i - j < max_rel else 0.0
    assert skew[1, 2, i, j] == pytest.approx(expect, abs=1e-5)


def test_relative_shift_with_memory_is_transformer_xl_rel_shift():
    """(Lq, Lk = M + Lq) scores by distance Lk-1 .. 0 -> key order: out[i, j] = x[i, j + Lq-1-i]."""
    lq, lk = 3, 7
    x = np.arange(lq * lk, dtype=np.float32).reshape(1, lq, lk)
    out = _np(ra.relative_shift(x))
    for i in range(lq):
        for j in range(i + lk - lq + 1):
            assert out[0, i, j] == x[0, i, j + lq - 1 - i]


def test_cached_relative_logits_read_the_distance_directly():
    rng = np.random.default_rng(1)
    q = rng.normal(size=(2, 3, 1, 4)).astype(np.float32)
    emb = rng.normal(size=(3, 4, 4)).astype(np.float32)
    got = _np(ra.cached_relative_logits(q, emb, 5, 8))
    for j in range(8):
        d = 5 - j
        expect = np.einsum("bhd,hd->bh", q[:, :, 0], emb[:, d]) if 0 <= d < 4 else 0.0
        np.testing.assert_allclose(got[:, :, 0, j], expect, atol=1e-6)


# ---- cached decoding == recomputing the whole prefix ------------------------------------------
@pytest.mark.parametrize("name", sorted(CORES))
def test_cached_decoding_gives_the_logits_of_the_whole_prefix_at_every_step(name):
    lm = TokenLM(CORES[name], vocab_size=V, seed=0)
    tokens = _tokens(2, 14, seed=1)
    cache = lm.initial_cache(2, 14)
    logits, cache = lm.call_with_cache(tokens[:, :3], cache, 0)  # prefill, then one per step
    steps = [_np(logits)]
    for i in range(3, 14):
        step, cache = lm.call_with_cache(tokens[:, i:i + 1], cache, i)
        steps.append(_np(step))
        recomputed = _np(lm.logits(tokens[:, :i + 1]))[:, -1]
        np.testing.assert_allclose(steps[-1][:, 0], recomputed, atol=1e-4)
    np.testing.assert_allclose(np.concatenate(steps, 1), _np(lm.logits(tokens)), atol=1e-4)


@pytest.mark.parametrize("name", ["music_transformer", "transformer_xl"])
def test_the_sampler_with_a_cache_picks_what_recomputation_picks(name):
    """Greedy decoding through the compiled cached loop == argmax of full-prefix logits."""
    lm = TokenLM(CORES[name], vocab_size=V, seed=3)
    prompt = _tokens(3, 2, seed=4)
    out = Sampler(temperature=0.0, eos_id=-1).generate(lm, prompt, 12)["tokens"]
    seq = prompt
    for _ in range(12):
        nxt = _np(lm.logits(seq))[:, -1].argmax(-1).astype(np.int32)
        seq = np.concatenate([seq, nxt[:, None]], axis=1)
    np.testing.assert_array_equal(out, seq)


def test_seeded_sampling_with_a_cache_is_reproducible_and_varies_with_the_seed():
    lm = TokenLM(CORES["music_gpt2"], vocab_size=V, seed=0)
    sampler = Sampler(temperature=1.0, top_k=6, seed=2, eos_id=-1)
    a, b = (sampler.generate(lm, [[2]] * 2, 20)["tokens"] for _ in range(2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, Sampler(temperature=1.0, top_k=6, seed=3, eos_id=-1).generate(
        lm, [[2]] * 2, 20)["tokens"])


# ---- Transformer-XL memory --------------------------------------------------------------------
def _xl(segment_len, mem_len, seed=0):
    return TokenLM(LMHParams(core="transformer_xl", segment_len=segment_len, mem_len=mem_len,
                             **TINY), vocab_size=V, seed=seed)


def test_segment_two_with_memory_equals_full_causal_attention_over_both_segments():
    with_memory, full = _xl(5, 5), _xl(10, 0)
    full.set_weights(with_memory.get_weights())
    tokens = _tokens(2, 10, seed=5)
    np.testing.assert_allclose(_np(with_memory.logits(tokens)), _np(full.logits(tokens)),
                               atol=1e-5)
    # Without memory segment 2 sees only itself: its logits differ, segment 1's do not.
    no_memory = _xl(5, 0)
    no_memory.set_weights(with_memory.get_weights())
    a, b = _np(no_memory.logits(tokens)), _np(full.logits(tokens))
    np.testing.assert_allclose(a[:, :5], b[:, :5], atol=1e-5)
    assert np.abs(a[:, 5:] - b[:, 5:]).max() > 1e-3


def test_memory_is_gradient_stopped():
    """Segment 2's loss has no gradient into segment 1's inputs through the memory."""
    lm = _xl(4, 4)
    emb = tf.Variable(np.random.default_rng(0).normal(size=(1, 8, 8)).astype(np.float32))
    with tf.GradientTape() as tape:
        h, _ = lm.core(emb)
        loss = tf.reduce_sum(h[:, 4:] ** 2)
    grad = tape.gradient(loss, emb).numpy()
    assert np.all(grad[:, :4] == 0) and np.abs(grad[:, 4:]).max() > 0
    full = _xl(8, 0)
    full.set_weights(lm.get_weights())
    with tf.GradientTape() as tape:
        h, _ = full.core(emb)
        loss = tf.reduce_sum(h[:, 4:] ** 2)
    assert np.abs(tape.gradient(loss, emb).numpy()[:, :4]).max() > 0  # full attention: gradient


def test_memory_length_bounds_the_context():
    """With mem_len 2, position 9 (segment 3 of 4-token segments) cannot see position 0."""
    lm = _xl(4, 2)
    a, b = _tokens(1, 10, seed=1), _tokens(1, 10, seed=1)
    b[0, 0] = (a[0, 0] + 1) % V
    la, lb = _np(lm.logits(a)), _np(lm.logits(b))
    assert np.abs(la[0, 9] - lb[0, 9]).max() < 1e-6
    assert np.abs(la[0, 4] - lb[0, 4]).max() > 1e-4  # position 4 reads memory 2..3 -> depends
    # on layer-1 states of 2..3, which saw position 0


# ---- configs ----------------------------------------------------------------------------------
def test_paper_size_configs_carry_the_published_setups():
    mt = get_config("music_transformer")[1].hparams
    assert (mt.num_layers, mt.embedding_size, mt.num_heads, mt.filter_size, mt.max_seq_len,
            mt.max_relative_position, mt.dropout) == (16, 512, 8, 2048, 2048, 1024, 0.1)
    gpt = get_config("music_gpt2")[1].hparams
    assert (gpt.embedding_size, gpt.num_heads, gpt.num_layers, gpt.max_seq_len, gpt.activation,
            gpt.tie_embeddings, gpt.learning_rate, gpt.lr_schedule) == (
        512, 16, 8, 2000, "gelu", True, 1e-4, "constant")
    _, xl_config = get_config("transformer_xl_remi")
    xl = xl_config.hparams
    assert (xl.num_layers, xl.embedding_size, xl.num_heads, xl.filter_size, xl.segment_len,
            xl.mem_len, xl.dropout, xl.learning_rate, xl.lr_schedule, xl.sample_temperature,
            xl.sample_top_k) == (12, 512, 8, 2048, 512, 512, 0.1, 2e-4, "cosine", 1.2, 5)
    assert type(xl_config.data_converter).__name__ == "RemiConverter"
    for name in ("music_transformer", "music_gpt2", "transformer_xl_remi",
                 "music_transformer_small", "music_gpt2_small", "transformer_xl_remi_small"):
        hp = get_config(name)[1]
        windows_fit = hp.data_converter._max_events if hasattr(hp.data_converter, "_max_events") \
            else hp.data_converter._max_tokens
        assert windows_fit + 2 <= hp.hparams.max_seq_len, name


# ---- REMI: malformed generated streams decode leniently, counted ------------------------------
def test_malformed_remi_streams_decode_leniently_and_are_counted():
    conv = get_config("transformer_xl_remi_small")[1].data_converter
    tokens = ["Position_3", "Velocity_20", "Pitch_60", "Duration_4", "Duration_2", "Bar",
              "TempoValue_10", "Position_0", "Pitch_64", "Position_4", "Pitch_67", "Duration_8",
              "Pitch_70"]
    report = {}
    ns = conv.decode_tokens(tokens, report)
    assert report == {"position before any bar": 1, "duration with no note": 1,
                      "tempo value without a tempo class": 1, "pitch without a duration": 2}
    assert sorted((n.pitch, round(n.start_time, 3)) for n in ns.notes) == [
        (60, 0.375), (67, 0.5)]  # tokens before the first Bar belong to bar 0, as the Bar does
    # Random id streams never crash.
    rng = np.random.default_rng(0)
    for _ in range(20):
        conv.decode_ids(rng.integers(0, len(conv.vocabulary), 200).tolist(), {})


# ---- the same commands: train a few steps, then generate from the run dir ----------------------
TINY_ATTENTION = "num_layers=1,embedding_size=16,num_heads=2,filter_size=32,batch_size=4"


@pytest.fixture(scope="module")
def piano_ns(tmp_path_factory):
    from lm_testlib import write_piano_shards
    return write_piano_shards(tmp_path_factory.mktemp("piano_ns_attention"),
                              counts=(("train", 3), ("validation", 1), ("test", 1)))


@pytest.mark.parametrize("name", ["music_transformer_small", "music_gpt2_small",
                                  "transformer_xl_remi_small"])
def test_train_then_generate_sample_and_continue_write_midi_with_notes(name, piano_ns, tmp_path):
    from absl import flags

    from lm_testlib import piano_sequence
    from musicgen import generate, midi_io, train
    run_dir = str(tmp_path / "run")
    assert train.train(name, run_dir, num_steps=2, hparams_str=TINY_ATTENTION,
                       input_kwargs={"dataset_dir": piano_ns, "seed": 1}, save_checkpoint_steps=2,
                       log_every=1, progress=False) == 2
    primer_path = str(tmp_path / "primer.mid")
    midi_io.note_sequence_to_midi_file(piano_sequence(30, seed=2), primer_path)
    for mode in ("sample", "continue"):
        fv = generate.define_flags(flags.FlagValues())
        fv(["generate", f"--run_dir={run_dir}", f"--mode={mode}", "--max_events=256",
            "--num_outputs=2", "--seed=3", f"--primer_midi={primer_path}",
            f"--output_dir={tmp_path / mode}"])
        paths = generate.run(fv)
        assert len(paths) == 2
        for path in paths:
            ns = midi_io.midi_file_to_note_sequence(path)
            assert ns.notes, (name, mode, path)


@pytest.mark.parametrize("module", ["musicgen.models.lm.relative_attention",
                                    "musicgen.models.lm.transformer",
                                    "musicgen.models.lm.transformer_xl"])
def test_docstring_examples_run(module):
    import doctest
    import importlib
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_sampling_defaults_come_from_the_config_unless_a_flag_is_given():
    from types import SimpleNamespace

    from musicgen.families.token_lm import _sampling_kwargs
    lm = SimpleNamespace(config=get_config("transformer_xl_remi_small")[1])
    fv = SimpleNamespace(max_events=8, temperature=None, top_k=None, top_p=1.0, seed=1)
    kwargs = _sampling_kwargs(lm, fv)
    assert (kwargs["temperature"], kwargs["top_k"]) == (1.2, 5)
    fv.temperature, fv.top_k = 0.5, 0
    kwargs = _sampling_kwargs(lm, fv)
    assert (kwargs["temperature"], kwargs["top_k"]) == (0.5, 0)
    rnn = SimpleNamespace(config=get_config("performance_rnn_small")[1])
    fv.temperature = fv.top_k = None
    assert (_sampling_kwargs(rnn, fv)["temperature"], _sampling_kwargs(rnn, fv)["top_k"]) == (1.0, 0)
