"""MusicVAE-family Keras models built from keras.ops / keras.layers only (any Keras backend).

Modules, one family each:

* `schedules`     KL divergence, free bits, beta / learning-rate / scheduled-sampling schedules.
* `lstm_utils`    stacked LSTM with per-step input dropout, z -> initial state, masks, segments.
* `lstm_encoders` BidirectionalLstmEncoder, HierarchicalLstmEncoder.
* `lstm_decoders` Categorical / MultiOutCategorical / SplitMultiOut / Groove / Hierarchical decoders.
* `music_vae`     MusicVAE (keras.Model) and MusicVAEBuilder (the `Config.model` callable).

Models know tensors only: no MIDI, NoteSequences, files or TensorFlow.
"""
