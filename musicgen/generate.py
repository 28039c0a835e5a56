r"""Generate MIDI files with any trained model: `python -m musicgen.generate`.

With no flags it loads the bundled groovae_4bar model and writes 5 drum grooves into ./generated/;
`--config=X` with no checkpoint flag loads the bundled model of X (musicgen/pretrained/X.*):

    python -m musicgen.generate --num_outputs=5
    python -m musicgen.generate --config=groovae_4bar --run_dir=runs/groove --temperature=0.3
    python -m musicgen.generate --mode=interpolate --input_midi_1=a.mid --input_midi_2=b.mid
    python -m musicgen.generate --mode=reconstruct --input_midi_1=a.mid --seed=1
    python -m musicgen.generate --num_outputs=5 --render_audio --plot   # + WAV and PNG per file
    python -m musicgen.generate --config=performance_rnn_small --num_outputs=5 --max_events=1024
    python -m musicgen.generate --config=performance_rnn_small --mode=continue \
        --primer_midi=piece.mid --top_p=0.95

The modes and their extra flags belong to the config's model family (`musicgen.families`): this
module only checks the common flags, reads the MIDI inputs the mode names, loads the model through
`musicgen.checkpoints`, runs the mode and writes the files.

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

DEFAULT_CONFIG = "groovae_4bar"  # the bundled model used when no flag names one



def families() -> list:
    """The model families of the configs in CONFIG_MAP (each once, in config order)."""
    from musicgen import config as config_lib
    seen = []
    for cfg in config_lib.config_map().values():
        if cfg.family not in seen:
            seen.append(cfg.family)
    return seen


def all_modes() -> list:
    return sorted({m for fam in families() for m in fam.modes})


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> flags.FlagValues:
    """Define the CLI's flags on `fv` (called by main only, so importing this module defines none):
    the common ones, then each family's own (`Family.define_generate_flags`)."""
    flags.DEFINE_string("config", None, "Config name (default: the one stored beside the "
                        "checkpoint; with no checkpoint: the bundled groovae_4bar).", flag_values=fv)
    flags.DEFINE_string("hparams", None, "Hparams overrides 'a=1,b=2' (default: stored ones).",
                        flag_values=fv)
    flags.DEFINE_string("run_dir", None, "Training run directory: its latest checkpoint is loaded.",
                        flag_values=fv)
    flags.DEFINE_string("checkpoint_file", None, "A checkpoint prefix or .weights.h5 file.",
                        flag_values=fv)
    flags.DEFINE_enum("mode", "sample", all_modes(), "What to generate (the modes of the "
                      "config's family: " + "; ".join(
                          f"{fam.name}: {', '.join(fam.modes)}" for fam in families()) + ").",
                      flag_values=fv)
    flags.DEFINE_integer("num_outputs", 5, "Samples (sample / continue mode) or interpolation "
                         "steps including both ends (interpolate mode).", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_float("temperature", None, "Sampling temperature (0: greedy; default: the "
                       "family's, 0.5 for VAEs, 1.0 for token LMs).", lower_bound=0.0,
                       flag_values=fv)
    flags.DEFINE_string("output_dir", None, "Where MIDI files go (default: ./generated).",
                        flag_values=fv)
    flags.DEFINE_integer("seed", None, "Random seed (default: from the clock; printed).",
                         flag_values=fv)
    flags.DEFINE_integer("max_batch_size", 8, "Most sequences per model call.", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_boolean("render_audio", False, "Also write a WAV per MIDI file, rendered by "
                         "FluidSynth with a General MIDI soundfont (musicgen.render).", flag_values=fv)
    flags.DEFINE_string("soundfont", None, "Soundfont (.sf2/.sf3) for --render_audio (default: "
                        "$MUSICGEN_SOUNDFONT or the OS's GM soundfont).", flag_values=fv)
    flags.DEFINE_boolean("plot", False, "Also write a PNG per MIDI file: a drum grid or a piano "
                         "roll (musicgen.plot).", flag_values=fv)
    for fam in families():
        fam.define_generate_flags(fv)
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


def check_output_dir(value: str) -> str:
    """The absolute --output_dir, created; FlagError when it is a file or cannot be written
    (checked first, before any model loads)."""
    path = os.path.abspath(os.path.expanduser(value))
    if os.path.exists(path) and not os.path.isdir(path):
        raise FlagError(f"--output_dir={value}: exists and is not a directory")
    from musicgen.paths import make_writable_dir
    try:
        make_writable_dir(path)
    except OSError as err:
        raise FlagError(f"--output_dir={value}: cannot write there ({err.strerror or err})") from None
    return path


def checkpoint_flag(fv):
    """(checkpoint prefix, config name or None) to load; checks --run_dir / --checkpoint_file.

    With neither: the bundled model of --config (default groovae_4bar)."""
    if fv.config:
        from musicgen.config import config_names
        names = config_names()
        if fv.config not in names:
            raise FlagError(f"--config: unknown config {fv.config!r}; valid configs: "
                            f"{', '.join(names)}")
    if fv.run_dir and fv.checkpoint_file:
        raise FlagError("--run_dir and --checkpoint_file are exclusive: pass only one")
    for name in ("run_dir", "checkpoint_file"):
        value = getattr(fv, name)
        if value:
            try:
                return checkpoints.resolve_checkpoint_path(os.path.expanduser(value)), fv.config
            except FileNotFoundError as err:
                raise FlagError(f"--{name}: {err}") from err
    config_name = fv.config or DEFAULT_CONFIG
    prefix = checkpoints.pretrained_path(config_name)
    if os.path.exists(prefix + checkpoints.WEIGHTS_SUFFIX):
        return prefix, config_name
    if fv.config:
        bundled = sorted(n[:-len(checkpoints.WEIGHTS_SUFFIX)]
                         for n in os.listdir(checkpoints.PRETRAINED_DIR)
                         if n.endswith(checkpoints.WEIGHTS_SUFFIX)) \
            if os.path.isdir(checkpoints.PRETRAINED_DIR) else []
        raise FlagError(f"--config={fv.config} needs --run_dir or --checkpoint_file (no bundled "
                        f"model of it; bundled: {', '.join(bundled) or 'none'})")
    raise FlagError(f"--checkpoint_file / --run_dir not given and bundled model "
                    f"{prefix + checkpoints.WEIGHTS_SUFFIX} is missing: reinstall musicgen, or pass "
                    f"a checkpoint (--checkpoint_file=...)")


def check_render_flags(fv):
    """The soundfont to render with, or None (no --render_audio, or no synthesizer / soundfont on
    this machine: then a warning says so and only MIDI is written). A --soundfont that does not
    exist is a FlagError. Checked before the model loads."""
    if fv.soundfont and not fv.render_audio:
        raise FlagError("--soundfont is only used with --render_audio")
    if not fv.render_audio:
        return None
    from musicgen import render
    if fv.soundfont and not os.path.isfile(os.path.expanduser(fv.soundfont)):
        raise FlagError(f"--soundfont={fv.soundfont}: file not found")
    try:
        return render.check_available(fv.soundfont)[1]
    except render.RenderUnavailable as err:
        print(f"musicgen.generate: warning: --render_audio: {err}; writing MIDI only",
              file=sys.stderr)
        return None


def write_extras(sequences, paths, soundfont, plot: bool) -> list:
    """WAV (when `soundfont`) and PNG (when `plot`) beside each MIDI file; returns the lines to
    print. A sample that cannot be rendered (e.g. no notes) is reported, the others go on."""
    lines = []
    if soundfont:
        from musicgen import render
        for path in paths:
            wav = os.path.splitext(path)[0] + ".wav"
            try:
                levels = render.render_midi(path, wav, soundfont)
                lines.append(f"  {os.path.basename(wav)}: {render.describe(levels)}")
            except render.RenderError as err:
                lines.append(f"  no WAV for {os.path.basename(path)}: {err}")
    if plot:
        from musicgen import plot as plot_lib
        for ns, path in zip(sequences, paths):
            png = os.path.splitext(path)[0] + ".png"
            plot_lib.plot_note_sequence(ns, png, title=os.path.basename(path))
            lines.append(f"  {os.path.basename(png)}")
    return lines


def output_paths(output_dir: str, config_name: str, mode: str, n: int, stamp: str) -> list:
    """Magenta's names: <config>_<mode>_<stamp>-000-of-005.mid ..."""
    return [os.path.join(output_dir, f"{config_name}_{mode}_{stamp}-{i:03d}-of-{n:03d}.mid")
            for i in range(n)]


def resolve_config(fv, checkpoint: str, config_name):
    """(name, config) of the model to load: --config / --hparams, else the checkpoint's json."""
    meta = checkpoints.read_metadata(checkpoint)
    name = config_name or meta.get("config")
    if config_name and meta.get("config") and meta["config"] != config_name:
        raise FlagError(f"--config={config_name}: {checkpoint} holds a {meta['config']} model; "
                        f"pass --config={meta['config']} or leave --config out")
    if not name:
        raise FlagError(f"--config: {checkpoint} stores no config name; pass --config")
    hparams = fv.hparams if fv.hparams is not None else meta.get("hparams", "")
    try:
        return checkpoints.get_config(name, hparams)
    except ValueError as err:
        flag = "hparams" if "hparam" in str(err) else "config"
        raise FlagError(f"--{flag}: {err}") from err


def load_wrapper(fv, checkpoint: str, name: str, config, seed: int, batch_size: int):
    """The family's inference wrapper around the loaded model (built after seeding Keras, so the
    model's own seed generators are reproducible too)."""
    import keras
    keras.utils.set_random_seed(seed)
    try:
        _, config, model = checkpoints.load_model(checkpoint, name, fv.hparams)
    except ValueError as err:
        raise FlagError(f"--checkpoint_file / --run_dir: {err}") from err
    return config.family.inference(name, config, model, seed=seed, batch_size=batch_size)


def run(fv=flags.FLAGS) -> list:
    """Check the flags, load the model, write the MIDI files; returns their paths."""
    output_dir = check_output_dir(fv.output_dir or "generated")
    soundfont = check_render_flags(fv)
    checkpoint, config_name = checkpoint_flag(fv)
    name, config = resolve_config(fv, checkpoint, config_name)
    family = config.family
    if fv.mode not in family.modes:
        raise FlagError(f"--mode={fv.mode}: not a mode of {name} (family {family.name}: "
                        f"{', '.join(family.modes)})")
    mode = family.modes[fv.mode]
    inputs = [read_midi_flag(fv, flag) for flag in mode.inputs]
    seed = fv.seed if fv.seed is not None else time.time_ns() % (2 ** 31)
    stamp = time.strftime("%Y-%m-%d_%H%M%S")

    n = mode.num_outputs(fv)
    wrapper = load_wrapper(fv, checkpoint, name, config, seed, min(fv.max_batch_size, n))
    if mode.check is not None:
        try:
            mode.check(wrapper, fv, inputs)
        except ValueError as err:
            raise FlagError(str(err)) from err
    sequences = mode.run(wrapper, fv, inputs)

    from musicgen import midi_io
    os.makedirs(output_dir, exist_ok=True)
    paths = output_paths(output_dir, name or "model", fv.mode, len(sequences), stamp)
    for ns, path in zip(sequences, paths):
        midi_io.note_sequence_to_midi_file(ns, path)
    print(f"seed: {seed}")
    print(f"wrote {len(paths)} MIDI files to {output_dir}")
    for path in paths:
        print(f"  {os.path.basename(path)}")
    extras = write_extras(sequences, paths, soundfont, fv.plot)
    if extras:
        what = " and ".join(w for w, on in (("WAV", soundfont), ("PNG", fv.plot)) if on)
        print(f"wrote {what} files beside them:")
        print("\n".join(extras))
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
