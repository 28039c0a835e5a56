# Two commands do everything on a fresh machine: `make generate` and `make test`.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export TF_ENABLE_ONEDNN_OPTS ?= 0
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: setup synth generate test convert-groove bench bench-setup clean-venv

setup: $(STAMP)

$(STAMP): setup.py constraints.txt
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip==26.3
	$(VPY) -m pip install -q -c constraints.txt -e '.[beam,dask,test]'
	# tf-keras only so that TFP imports; --no-deps keeps the full `tensorflow` wheel out.
	$(VPY) -m pip install -q --no-deps -c constraints.txt tf-keras
	$(VPY) -c "import tensorflow, tensorflow_probability, note_seq, numba, apache_beam, keras; print('setup ok: tf', tensorflow.__version__, 'keras', keras.__version__)"
	touch $(STAMP)

# Audio rendering (musicgen.render, --render_audio) needs the fluidsynth program and a General MIDI
# soundfont from the OS packages: installed here when missing and this is a root Debian/Ubuntu shell,
# else a note says what to install (`make test` then fails in tests/test_render.py, on purpose).
SYNTH_PKGS := fluidsynth fluid-soundfont-gm
synth: setup
	@if command -v fluidsynth >/dev/null && $(VPY) -c "from musicgen import render; render.find_soundfont()" 2>/dev/null; then \
	  echo "synth ok: $$(command -v fluidsynth), $$($(VPY) -c 'from musicgen import render; print(render.find_soundfont())')"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(SYNTH_PKGS) >/dev/null \
	  || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(SYNTH_PKGS) >/dev/null; }; \
	  echo "synth installed: $(SYNTH_PKGS)"; \
	else \
	  echo "note: audio rendering needs fluidsynth and a GM soundfont: sudo apt-get install $(SYNTH_PKGS)"; \
	fi

generate: setup synth
	$(VPY) -m musicgen.generate --num_outputs=5

test: setup synth
	$(VPY) -m pytest -q tests

# bench-only extras (MidiTok for bench/token_encoders.py), outside `make test`.
bench-setup: setup
	$(VPY) -m pip install -q -c constraints.txt -e '.[bench]'

bench: setup
	$(VPY) bench/convert.py

clean-venv:
	rm -rf $(VENV)
