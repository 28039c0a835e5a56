"""Are the bundled weights backend-neutral? Load musicgen/pretrained/groovae_4bar.weights.h5 on another
Keras backend and compare its encodings and greedy decodes with TensorFlow's on real Groove windows.

  # 1. reference, on the full TensorFlow install (converter + real fixture MIDI files):
  .venv/bin/python bench/cross_backend.py reference   -> bench/results/cross_backend_reference.npz
  # 2. on any backend, needing only keras + numpy + the backend (no TF, note_seq or configs):
  KERAS_BACKEND=torch python bench/cross_backend.py check   -> bench/results/cross_backend_<backend>.json
  KERAS_BACKEND=jax   python bench/cross_backend.py check

The reference file holds the hparams, depths, the windows (tests/data/groove, CC BY 4.0), and
TensorFlow's mu / sigma and greedy decodes of z = mu (temperature 0: hits are the sign of the
logits, deterministic up to float rounding). `check` rebuilds the same MusicVAE from
musicgen.models alone, loads the same .h5 and reports the largest |difference| of mu and sigma, the
share of equal hits, and velocity / offset differences on hits both backends agree on.
"""
from __future__ import annotations

import glob
import json
import os
import sys
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

WEIGHTS = os.path.join(ROOT, "musicgen", "pretrained", "groovae_4bar.weights.h5")
REFERENCE = os.path.join(ROOT, "bench", "results", "cross_backend_reference.npz")
TEMPERATURE = 0.0  # greedy: hits = logit > 0, deterministic


def reference() -> int:
    from musicgen import checkpoints, midi_io
    config, model = checkpoints.load_for_inference(WEIGHTS)
    files = sorted(glob.glob(os.path.join(ROOT, "tests", "data", "groove", "**", "*.mid"),
                             recursive=True))
    inputs, lengths = [], []
    for path in files:
        t = config.data_converter.to_tensors(midi_io.midi_file_to_note_sequence(path))
        inputs += list(t.inputs)
        lengths += list(t.lengths)
    inputs, lengths = np.stack(inputs).astype("float32"), np.asarray(lengths, "int32")
    _, mu, sigma = model.encode(inputs, lengths)
    decoded = model.decode(mu, inputs.shape[1], temperature=TEMPERATURE)
    hparams = {k: v for k, v in config.hparams.values().items()
               if isinstance(v, (int, float, str, bool, list))}
    np.savez_compressed(REFERENCE, inputs=inputs, lengths=lengths, mu=mu, sigma=sigma,
                        decoded=decoded, hparams=json.dumps(hparams),
                        depths=np.array([model.input_depth, model.output_depth]))
    print(f"{len(files)} files, {len(inputs)} windows -> {REFERENCE}")
    return 0


def check() -> int:
    import keras
    from musicgen.models.lstm_decoders import GrooveLstmDecoder
    from musicgen.models.lstm_encoders import BidirectionalLstmEncoder
    from musicgen.models.music_vae import MusicVAEBuilder
    ref = np.load(REFERENCE)
    hp = types.SimpleNamespace(**json.loads(str(ref["hparams"])))
    input_depth, output_depth = (int(d) for d in ref["depths"])
    model = MusicVAEBuilder(BidirectionalLstmEncoder, GrooveLstmDecoder)(
        hp, output_depth, input_depth=input_depth, seed=0)
    model.load_weights(WEIGHTS)
    _, mu, sigma = model.encode(ref["inputs"], ref["lengths"])
    decoded = model.decode(ref["mu"], ref["inputs"].shape[1], temperature=TEMPERATURE)
    n = output_depth // 3
    hits, ref_hits = decoded[..., :n] > 0.5, ref["decoded"][..., :n] > 0.5
    both = hits & ref_hits
    result = {
        "backend": keras.backend.backend(), "keras": keras.__version__,
        "windows": int(len(mu)),
        "mu_max_abs_diff": float(np.abs(mu - ref["mu"]).max()),
        "mu_max_abs": float(np.abs(ref["mu"]).max()),
        "sigma_max_abs_diff": float(np.abs(sigma - ref["sigma"]).max()),
        "hit_cells_equal": float((hits == ref_hits).mean()),
        "windows_all_hits_equal": float((hits == ref_hits).all(axis=(1, 2)).mean()),
        "hits_reference": int(ref_hits.sum()),
        "velocity_max_abs_diff_on_shared_hits": float(
            np.abs(decoded[..., n:2 * n] - ref["decoded"][..., n:2 * n])[both].max()),
        "offset_max_abs_diff_on_shared_hits": float(
            np.abs(decoded[..., 2 * n:] - ref["decoded"][..., 2 * n:])[both].max()),
    }
    result["ok"] = result["mu_max_abs_diff"] < 1e-3 and result["hit_cells_equal"] > 0.99
    out = os.path.join(ROOT, "bench", "results", f"cross_backend_{result['backend']}.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result, indent=2))
    print("OK" if result["ok"] else "FAILED", "->", out)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode not in ("reference", "check"):
        sys.exit(f"usage: {sys.argv[0]} reference|check")
    sys.exit(reference() if mode == "reference" else check())
