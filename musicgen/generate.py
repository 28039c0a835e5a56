r"""Generate MIDI files with a trained MusicVAE: `python -m musicgen.generate`.

With no flags it loads the bundled groovae_4bar model and writes 5 drum grooves into ./generated/:

    python -m musicgen.generate --num_outputs=5
    python -m musicgen.generate --config=groovae_4bar --run_dir=runs/groove --temperature=0.3
    python -m musicgen.generate --mode=interpolate --input_midi_1=a.mid --input_midi_2=b.mid
    python -m musicgen.generate --mode=reconstruct --input_midi_1=a.mid --seed=1

Files are named as Magenta's music_vae_generate:
`<config>_<mode>_<YYYY-mm-dd_HHMMSS>-<i:03d>-of-<n:03d>.mid`. Every flag problem (missing or
non-MIDI input, unknown config, both --run_dir and --checkpoint_file) exits with status 1 and a
message naming the flag. TensorFlow is imported only after the flags are checked.
"""
from __future__ import annotations

import os
import sys
import time

from absl import app, flags

from musicgen import checkpoints

FLAGS = flags.FLAGS
MODES = ("sample", "interpolate", "reconstruct")

flags.DEFINE_string("config", None, "Config name (default: the one stored beside the checkpoint; "
                    "with no checkpoint either: the bundled groovae_4bar).")
flags.DEFINE_string("hparams", None, "Hparams overrides 'a=1,b=2' (default: stored ones).")
flags.DEFINE_string("run_dir", None, "Training run directory: its latest checkpoint is loaded.")
flags.DEFINE_string("checkpoint_file", None, "A checkpoint prefix or .weights.h5 file.")
flags.DEFINE_enum("mode", "sample", MODES, "What to generate.")
flags.DEFINE_integer("num_outputs", 5, "Samples (sample mode) or interpolation steps including "
                     "both ends (interpolate mode).", lower_bound=1)
flags.DEFINE_float("temperature", 0.5, "Decoder sampling temperature.", lower_bound=0.0)
flags.DEFINE_string("output_dir", None, "Where MIDI files go (default: ./generated).")
flags.DEFINE_string("input_midi_1", None, "Start MIDI (interpolate) or the MIDI to reconstruct.")
flags.DEFINE_string("input_midi_2", None, "End MIDI file (interpolate).")
flags.DEFINE_integer("seed", None, "Random seed (default: from the clock; printed).")
flags.DEFINE_integer("max_batch_size", 8, "Most sequences per model call.", lower_bound=1)


class FlagError(ValueError):
    """A flag value that cannot be used; the message names the flag."""


def _read_midi(flag_name: str, path: str):
    """Parse the MIDI file given by `--flag_name`, or raise FlagError naming the flag."""
    from musicgen import midi_io
    if not path:
        raise FlagError(f"--{flag_name} is required in --mode={FLAGS.mode}")
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise FlagError(f"--{flag_name}: file not found: {path}")
    try:
        ns = midi_io.midi_file_to_note_sequence(path)
    except (ValueError, OSError) as err:  # MidiConversionError is a ValueError
        raise FlagError(f"--{flag_name}: not a readable MIDI file: {err}") from err
    ns.filename = ns.filename or path
    return ns


def checkpoint_flag() -> str | None:
    """The checkpoint to load (None: the bundled model); checks --run_dir / --checkpoint_file."""
    if FLAGS.run_dir and FLAGS.checkpoint_file:
        raise FlagError("--run_dir and --checkpoint_file are exclusive: pass only one")
    for name in ("run_dir", "checkpoint_file"):
        value = getattr(FLAGS, name)
        if value:
            try:
                return checkpoints.resolve_checkpoint_path(os.path.expanduser(value))
            except FileNotFoundError as err:
                raise FlagError(f"--{name}: {err}") from err
    if FLAGS.config and FLAGS.config != "groovae_4bar":
        raise FlagError(f"--config={FLAGS.config} needs --run_dir or --checkpoint_file "
                        "(only groovae_4bar is bundled)")
    return None


def output_paths(output_dir: str, config_name: str, mode: str, n: int, stamp: str) -> list:
    """Magenta's names: <config>_<mode>_<stamp>-000-of-005.mid ..."""
    return [os.path.join(output_dir, f"{config_name}_{mode}_{stamp}-{i:03d}-of-{n:03d}.mid")
            for i in range(n)]


def load_model(checkpoint, seed: int, batch_size: int):
    """TrainedModel for the flags; an unknown --config becomes a FlagError."""
    from musicgen.trained_model import TrainedModel
    try:
        if checkpoint is None:
            return TrainedModel.default(batch_size=batch_size, seed=seed)
        return TrainedModel(FLAGS.config, checkpoint, batch_size=batch_size,
                            hparams=FLAGS.hparams, seed=seed)
    except ValueError as err:
        if "unknown config" in str(err) or "no config name" in str(err):
            raise FlagError(f"--config: {err}") from err
        raise


def check_windows(tm, inputs: list) -> None:
    """Each input must give the model a window; else a FlagError naming --input_midi_N."""
    from musicgen.trained_model import NoExtractedExamplesError
    for i, ns in enumerate(inputs, start=1):
        try:
            tm.extract_window(ns, first_window=True)
        except NoExtractedExamplesError as err:
            raise FlagError(f"--input_midi_{i}: {err}") from err


def generate(tm, inputs: list) -> list:
    """NoteSequences for the flags' mode."""
    if FLAGS.mode == "sample":
        return tm.sample(FLAGS.num_outputs, temperature=FLAGS.temperature)
    if FLAGS.mode == "interpolate":
        return tm.interpolate(inputs[0], inputs[1], FLAGS.num_outputs,
                              temperature=FLAGS.temperature, assert_same_length=False,
                              first_window=True)
    return [tm.reconstruct(inputs[0], temperature=FLAGS.temperature, first_window=True)]


def run() -> list:
    """Check the flags, load the model, write the MIDI files; returns their paths."""
    checkpoint = checkpoint_flag()
    inputs = []
    if FLAGS.mode in ("interpolate", "reconstruct"):
        inputs.append(_read_midi("input_midi_1", FLAGS.input_midi_1))
    if FLAGS.mode == "interpolate":
        inputs.append(_read_midi("input_midi_2", FLAGS.input_midi_2))
    output_dir = os.path.abspath(os.path.expanduser(FLAGS.output_dir or "generated"))
    seed = FLAGS.seed if FLAGS.seed is not None else time.time_ns() % (2 ** 31)
    stamp = time.strftime("%Y-%m-%d_%H%M%S")

    n = FLAGS.num_outputs if FLAGS.mode != "reconstruct" else 1
    tm = load_model(checkpoint, seed, min(FLAGS.max_batch_size, n))
    check_windows(tm, inputs)
    sequences = generate(tm, inputs)

    from musicgen import midi_io
    os.makedirs(output_dir, exist_ok=True)
    config_name = tm.config_name or FLAGS.config or "model"
    paths = output_paths(output_dir, config_name, FLAGS.mode, len(sequences), stamp)
    for ns, path in zip(sequences, paths):
        midi_io.note_sequence_to_midi_file(ns, path)
    print(f"seed: {seed}")
    print(f"wrote {len(paths)} MIDI files to {output_dir}")
    for path in paths:
        print(f"  {os.path.basename(path)}")
    return paths


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        run()
    except FlagError as err:
        sys.exit(f"musicgen.generate: error: {err}")


if __name__ == "__main__":
    app.run(main)
