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
from musicgen.trained_model import DEFAULT_CONFIG  # the bundled model (musicgen/pretrained/)

MODES = ("sample", "interpolate", "reconstruct")


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> flags.FlagValues:
    """Define the CLI's flags on `fv` (called by main only, so importing this module defines none)."""
    flags.DEFINE_string("config", None, "Config name (default: the one stored beside the "
                        "checkpoint; with no checkpoint: the bundled groovae_4bar).", flag_values=fv)
    flags.DEFINE_string("hparams", None, "Hparams overrides 'a=1,b=2' (default: stored ones).",
                        flag_values=fv)
    flags.DEFINE_string("run_dir", None, "Training run directory: its latest checkpoint is loaded.",
                        flag_values=fv)
    flags.DEFINE_string("checkpoint_file", None, "A checkpoint prefix or .weights.h5 file.",
                        flag_values=fv)
    flags.DEFINE_enum("mode", "sample", MODES, "What to generate.", flag_values=fv)
    flags.DEFINE_integer("num_outputs", 5, "Samples (sample mode) or interpolation steps "
                         "including both ends (interpolate mode).", lower_bound=1, flag_values=fv)
    flags.DEFINE_float("temperature", 0.5, "Decoder sampling temperature (0: greedy).",
                       lower_bound=0.0, flag_values=fv)
    flags.DEFINE_string("output_dir", None, "Where MIDI files go (default: ./generated).",
                        flag_values=fv)
    flags.DEFINE_string("input_midi_1", None, "Start MIDI (interpolate) or the MIDI to reconstruct.",
                        flag_values=fv)
    flags.DEFINE_string("input_midi_2", None, "End MIDI file (interpolate).", flag_values=fv)
    flags.DEFINE_integer("seed", None, "Random seed (default: from the clock; printed).",
                         flag_values=fv)
    flags.DEFINE_integer("max_batch_size", 8, "Most sequences per model call.", lower_bound=1,
                         flag_values=fv)
    return fv


class FlagError(ValueError):
    """A flag value that cannot be used; the message names the flag."""


def read_midi_flag(fv, flag_name: str):
    """Parse the MIDI file given by `--flag_name`, or raise FlagError naming the flag."""
    from musicgen import midi_io
    path = getattr(fv, flag_name)
    if not path:
        raise FlagError(f"--{flag_name} is required in --mode={fv.mode}")
    path = os.path.expanduser(path)
    if not os.path.isfile(path):
        raise FlagError(f"--{flag_name}: file not found: {path}")
    try:
        ns = midi_io.midi_file_to_note_sequence(path)
    except (ValueError, OSError) as err:  # MidiConversionError is a ValueError
        raise FlagError(f"--{flag_name}: not a readable MIDI file: {err}") from err
    ns.filename = ns.filename or path
    return ns


def checkpoint_flag(fv) -> str | None:
    """The checkpoint to load (None: the bundled model); checks --run_dir / --checkpoint_file."""
    if fv.run_dir and fv.checkpoint_file:
        raise FlagError("--run_dir and --checkpoint_file are exclusive: pass only one")
    for name in ("run_dir", "checkpoint_file"):
        value = getattr(fv, name)
        if value:
            try:
                return checkpoints.resolve_checkpoint_path(os.path.expanduser(value))
            except FileNotFoundError as err:
                raise FlagError(f"--{name}: {err}") from err
    if fv.config and fv.config != DEFAULT_CONFIG:
        raise FlagError(f"--config={fv.config} needs --run_dir or --checkpoint_file "
                        f"(only {DEFAULT_CONFIG} is bundled)")
    return None


def output_paths(output_dir: str, config_name: str, mode: str, n: int, stamp: str) -> list:
    """Magenta's names: <config>_<mode>_<stamp>-000-of-005.mid ..."""
    return [os.path.join(output_dir, f"{config_name}_{mode}_{stamp}-{i:03d}-of-{n:03d}.mid")
            for i in range(n)]


def load_model(fv, checkpoint, seed: int, batch_size: int):
    """TrainedModel for the flags; an unknown --config / --hparams becomes a FlagError."""
    from musicgen.trained_model import TrainedModel
    try:
        if checkpoint is None:
            return TrainedModel.default(batch_size=batch_size, seed=seed)
        return TrainedModel(fv.config, checkpoint, batch_size=batch_size, hparams=fv.hparams,
                            seed=seed)
    except FileNotFoundError as err:  # the bundled model is missing from this install
        raise FlagError(f"--checkpoint_file / --run_dir not given and {err}") from err
    except ValueError as err:
        for flag, words in (("config", ("unknown config", "no config name")),
                            ("hparams", ("hparam",))):
            if any(w in str(err) for w in words):
                raise FlagError(f"--{flag}: {err}") from err
        raise


def check_windows(tm, inputs: list) -> None:
    """Each input must give the model a window; else a FlagError naming --input_midi_N."""
    from musicgen.trained_model import NoExtractedExamplesError
    for i, ns in enumerate(inputs, start=1):
        try:
            tm.extract_window(ns, first_window=True)
        except NoExtractedExamplesError as err:
            raise FlagError(f"--input_midi_{i}: {err}") from err


def generate(fv, tm, inputs: list) -> list:
    """NoteSequences for the flags' mode."""
    if fv.mode == "sample":
        return tm.sample(fv.num_outputs, temperature=fv.temperature)
    if fv.mode == "interpolate":
        return tm.interpolate(inputs[0], inputs[1], fv.num_outputs, temperature=fv.temperature,
                              assert_same_length=False, first_window=True)
    return [tm.reconstruct(inputs[0], temperature=fv.temperature, first_window=True)]


def run(fv=flags.FLAGS) -> list:
    """Check the flags, load the model, write the MIDI files; returns their paths."""
    checkpoint = checkpoint_flag(fv)
    inputs = []
    if fv.mode in ("interpolate", "reconstruct"):
        inputs.append(read_midi_flag(fv, "input_midi_1"))
    if fv.mode == "interpolate":
        inputs.append(read_midi_flag(fv, "input_midi_2"))
    output_dir = os.path.abspath(os.path.expanduser(fv.output_dir or "generated"))
    seed = fv.seed if fv.seed is not None else time.time_ns() % (2 ** 31)
    stamp = time.strftime("%Y-%m-%d_%H%M%S")

    n = fv.num_outputs if fv.mode != "reconstruct" else 1
    tm = load_model(fv, checkpoint, seed, min(fv.max_batch_size, n))
    check_windows(tm, inputs)
    sequences = generate(fv, tm, inputs)

    from musicgen import midi_io
    os.makedirs(output_dir, exist_ok=True)
    paths = output_paths(output_dir, tm.config_name or fv.config or "model", fv.mode,
                         len(sequences), stamp)
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
        run(flags.FLAGS)
    except FlagError as err:
        sys.exit(f"musicgen.generate: error: {err}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
