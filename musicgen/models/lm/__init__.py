"""Token language models (keras.ops / keras.layers only): one model class, swappable cores.

* `hparams`   LMHParams: the token-LM hyperparameters (core type and sizes, optimisation).
* `cores`     recurrent cores (SimpleRNN / GRU / LSTM stacks) with an explicit per-step state.
* `relative_attention`  causal attention with learned relative embeddings (skew; cached steps).
* `transformer`         Music Transformer / Music GPT-2 core: pre-LN blocks, key/value cache.
* `transformer_xl`      Transformer-XL core: segment memory, sinusoidal R with u / v biases.
* `token_lm`  TokenLM (keras.Model): embedding -> core -> projection (optionally tied), the
              loss / metrics of next-token prediction, and `call_with_cache` for decoding.
* `sampler`   one Sampler (greedy / temperature / top-k / top-p, seeded) running the decode loop
              as a compiled `keras.ops.while_loop` over any model's `call_with_cache`.

Models know token ids only: no MIDI, NoteSequences, files or TensorFlow.
"""
