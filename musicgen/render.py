r"""Hear a MIDI file: render it to WAV through FluidSynth and a General MIDI soundfont.

    python -m musicgen.render groove.mid                      # -> groove.wav beside it
    python -m musicgen.render a.mid b.mid --output_dir=wav --soundfont=/path/to/GM.sf2
    python -m musicgen.generate --num_outputs=5 --render_audio # MIDI + WAV per sample

The synthesizer is the `fluidsynth` program (Debian/Ubuntu package `fluidsynth`, macOS `brew install
fluid-synth`); drums play from MIDI channel 10 as General MIDI says, so a groove sounds like a kit.
The soundfont is `--soundfont`, else $MUSICGEN_SOUNDFONT, else the first GM soundfont found in the
usual OS locations (`SOUNDFONT_SEARCH`: Debian's fluid-soundfont-gm, timgm6mb-soundfont,
musescore-general-soundfont, ...). Rendering is offline (no audio device) and needs no network.

Levels: FluidSynth renders float samples; the file is scaled so its peak sits at `peak_dbfs`
(-1 dBFS) and written as 16-bit PCM, so it is never clipped and never inaudibly quiet. The levels
before and after, and the gain applied, come back as `Levels` (and are printed by the CLI). A MIDI
file that renders to silence (no notes, or notes the soundfont has no sound for) is an error.

(symusic 0.6's own `Synthesizer.render` cannot return its buffer to Python — "Unable to convert
function return value" — so it is not used; see BUILD_NOTES.)

Example (runs where fluidsynth and a soundfont are installed):

>>> from musicgen import render                                      # doctest: +SKIP
>>> levels = render.render_midi("groove.mid", "groove.wav")
>>> round(levels.peak_dbfs, 1), levels.clipped_samples
(-1.0, 0)
"""
from __future__ import annotations

import dataclasses
import glob
import math
import os
import shutil
import subprocess
import sys
import tempfile
import wave

import numpy as np

SOUNDFONT_ENV = "MUSICGEN_SOUNDFONT"
SOUNDFONT_SEARCH = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",          # Debian fluid-soundfont-gm
    "/usr/share/sounds/sf2/default-GM.sf2",          # Debian alternatives link
    "/usr/share/sounds/sf3/MuseScore_General.sf3",   # Debian musescore-general-soundfont
    "/usr/share/sounds/sf3/default-GM.sf3",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",            # Debian timgm6mb-soundfont
    "/usr/share/soundfonts/FluidR3_GM.sf2",          # Fedora / Arch
    "/usr/share/soundfonts/default.sf2",
    "/opt/homebrew/share/soundfonts/default.sf2",    # Homebrew
    "/usr/local/share/soundfonts/default.sf2",
)
SOUNDFONT_DIRS = ("/usr/share/sounds", "/usr/share/soundfonts")  # searched for any *.sf2 / *.sf3
INSTALL_HINT = ("install a synthesizer and a General MIDI soundfont (Debian/Ubuntu: `sudo apt-get "
                "install fluidsynth fluid-soundfont-gm`; macOS: `brew install fluid-synth` and a .sf2 "
                "file), or pass --soundfont=PATH / set $" + SOUNDFONT_ENV)
SAMPLE_RATE = 44100
PEAK_DBFS = -1.0
FULL_SCALE = 32767


class RenderUnavailable(RuntimeError):
    """No synthesizer or no soundfont: audio cannot be rendered on this machine."""


class RenderError(RuntimeError):
    """A file could not be rendered (the message names it)."""


@dataclasses.dataclass
class Levels:
    """What was rendered: seconds, the raw peak / RMS from the synthesizer (dBFS), the gain applied
    to reach the written peak, and the written file's peak / RMS and clipped-sample count."""
    seconds: float
    raw_peak_dbfs: float
    raw_rms_dbfs: float
    gain_db: float
    peak_dbfs: float
    rms_dbfs: float
    clipped_samples: int


def _dbfs(x: float) -> float:
    return 20.0 * math.log10(x) if x > 0 else -math.inf


def find_soundfont(path: str | None = None) -> str:
    """The soundfont to use: `path` (must exist), else $MUSICGEN_SOUNDFONT, else the first of
    SOUNDFONT_SEARCH (then any *.sf2 / *.sf3 under /usr/share/sounds or /usr/share/soundfonts)."""
    if path:
        path = os.path.expanduser(path)
        if not os.path.isfile(path):
            raise RenderUnavailable(f"--soundfont={path}: file not found")
        return path
    env = os.environ.get(SOUNDFONT_ENV)
    if env:
        if not os.path.isfile(env):
            raise RenderUnavailable(f"${SOUNDFONT_ENV}={env}: file not found")
        return env
    for candidate in SOUNDFONT_SEARCH:
        if os.path.isfile(candidate):
            return candidate
    for root in SOUNDFONT_DIRS:
        found = sorted(glob.glob(os.path.join(root, "**", "*.sf[23]"), recursive=True))
        if found:
            return found[0]
    raise RenderUnavailable("no General MIDI soundfont found: " + INSTALL_HINT)


def find_synthesizer() -> str:
    """Path of the fluidsynth program, or RenderUnavailable."""
    exe = shutil.which("fluidsynth")
    if not exe:
        raise RenderUnavailable("the `fluidsynth` program is not installed: " + INSTALL_HINT)
    return exe


def check_available(soundfont: str | None = None) -> tuple:
    """(synthesizer, soundfont) paths, or RenderUnavailable saying what is missing (cheap: call it
    before any slow loading)."""
    return find_synthesizer(), find_soundfont(soundfont)


def synthesize(midi_path: str, soundfont: str, sample_rate: int = SAMPLE_RATE,
               synthesizer: str | None = None) -> np.ndarray:
    """FluidSynth's float32 stereo rendering of `midi_path`: an array (frames, 2)."""
    exe = synthesizer or find_synthesizer()
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "out.raw")
        cmd = [exe, "-n", "-i", "-q", "-T", "raw", "-O", "float", "-E", "little",
               "-r", str(sample_rate), "-F", raw, soundfont, midi_path]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not os.path.exists(raw):
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise RenderError(f"{midi_path}: fluidsynth failed (exit {proc.returncode})"
                              + (f": {detail[-1]}" if detail else ""))
        audio = np.fromfile(raw, dtype="<f4")
    return audio[: audio.size // 2 * 2].reshape(-1, 2)


def write_wav(path: str, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write float audio in [-1, 1] (frames, channels) as 16-bit PCM."""
    pcm = np.round(np.clip(audio, -1.0, 1.0) * FULL_SCALE).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(audio.shape[1])
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm.tobytes())


def read_wav(path: str) -> tuple:
    """(float audio (frames, channels) in [-1, 1], sample rate) of a 16-bit PCM WAV."""
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: not 16-bit PCM")
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        return data.reshape(-1, w.getnchannels()).astype(np.float32) / FULL_SCALE, w.getframerate()


def trim_tail(audio: np.ndarray, peak: float, sample_rate: int, floor_db: float = -60.0,
              keep_s: float = 0.05) -> np.ndarray:
    """Cut the reverb tail once it has decayed `floor_db` below the peak (FluidSynth renders
    until every voice is silent, seconds after the last note-off)."""
    loud = np.flatnonzero(np.abs(audio).max(axis=1) > peak * 10.0 ** (floor_db / 20.0))
    end = min(len(audio), int(loud[-1]) + 1 + int(keep_s * sample_rate)) if loud.size else 0
    return audio[:end]


def check_midi(midi_path: str) -> None:
    """RenderError unless `midi_path` is a readable MIDI file with at least one note."""
    from musicgen import midi_io
    if not os.path.isfile(midi_path):
        raise RenderError(f"{midi_path}: file not found")
    try:
        ns = midi_io.midi_file_to_note_sequence(midi_path)
    except (ValueError, OSError) as err:  # MidiConversionError is a ValueError
        raise RenderError(f"{midi_path}: not a readable MIDI file: {err}") from None
    if not ns.notes:
        raise RenderError(f"{midi_path}: has no notes, nothing to render")


def render_midi(midi_path: str, wav_path: str, soundfont: str | None = None,
                sample_rate: int = SAMPLE_RATE, peak_dbfs: float = PEAK_DBFS) -> Levels:
    """Render `midi_path` to `wav_path` with its peak at `peak_dbfs`; returns the levels."""
    synth, soundfont = check_available(soundfont)
    check_midi(midi_path)
    audio = synthesize(midi_path, soundfont, sample_rate, synth)
    raw_peak = float(np.abs(audio).max()) if audio.size else 0.0
    if raw_peak < 1e-6:
        raise RenderError(f"{midi_path}: renders to silence (no notes, or none that "
                          f"{os.path.basename(soundfont)} has a sound for)")
    audio = trim_tail(audio, raw_peak, sample_rate)
    gain = 10.0 ** (peak_dbfs / 20.0) / raw_peak
    raw_rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    out = audio * gain
    write_wav(wav_path, out, sample_rate)
    written, _ = read_wav(wav_path)
    return Levels(seconds=len(out) / sample_rate, raw_peak_dbfs=_dbfs(raw_peak),
                  raw_rms_dbfs=_dbfs(raw_rms), gain_db=_dbfs(gain),
                  peak_dbfs=_dbfs(float(np.abs(written).max())),
                  rms_dbfs=_dbfs(float(np.sqrt(np.mean(np.square(written, dtype=np.float64))))),
                  clipped_samples=int(np.sum(np.abs(written) >= 1.0)))


def describe(levels: Levels) -> str:
    return (f"{levels.seconds:.2f} s, peak {levels.peak_dbfs:.1f} dBFS, RMS {levels.rms_dbfs:.1f} "
            f"dBFS (gain {levels.gain_db:+.1f} dB), {levels.clipped_samples} clipped samples")


def wav_path_for(midi_path: str, output_dir: str | None = None) -> str:
    base = os.path.splitext(os.path.basename(midi_path))[0] + ".wav"
    return os.path.join(output_dir or os.path.dirname(os.path.abspath(midi_path)), base)


def main(argv=None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="python -m musicgen.render",
                                description="Render MIDI files to WAV through FluidSynth and a GM "
                                            "soundfont.")
    p.add_argument("midi", nargs="+", help="MIDI files")
    p.add_argument("--output_dir", default=None, help="where WAVs go (default: beside each MIDI)")
    p.add_argument("--soundfont", default=None, help=f"a .sf2/.sf3 file (default: ${SOUNDFONT_ENV} "
                                                     "or the OS's GM soundfont)")
    p.add_argument("--sample_rate", type=int, default=SAMPLE_RATE)
    args = p.parse_args(argv)
    prog = "musicgen.render"
    try:
        synth, soundfont = check_available(args.soundfont)
    except RenderUnavailable as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 1
    if args.output_dir:
        from musicgen.paths import make_writable_dir
        try:
            make_writable_dir(os.path.abspath(args.output_dir))
        except OSError as err:
            print(f"{prog}: error: --output_dir={args.output_dir}: cannot write there "
                  f"({err.strerror or err})", file=sys.stderr)
            return 1
    print(f"soundfont: {soundfont}")
    failed = 0
    for midi in args.midi:
        out = wav_path_for(midi, args.output_dir)
        try:
            levels = render_midi(midi, out, soundfont, args.sample_rate)
        except RenderError as err:
            print(f"{prog}: error: {err}", file=sys.stderr)
            failed += 1
            continue
        print(f"{out}: {describe(levels)}")
    if failed:
        print(f"{prog}: {failed} of {len(args.midi)} files not rendered", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
