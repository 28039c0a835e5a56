# Two commands do everything on a fresh machine: `make generate` and `make test`.
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export TF_ENABLE_ONEDNN_OPTS ?= 0
export PYTHONWARNINGS ?= ignore::DeprecationWarning

.PHONY: setup generate test convert-groove bench clean-venv

setup: $(STAMP)

$(STAMP): setup.py constraints.txt
	test -x $(VPY) || $(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip==26.3
	$(VPY) -m pip install -q -c constraints.txt -e '.[beam,test]'
	# tf-keras only so that TFP imports; --no-deps keeps the full `tensorflow` wheel out.
	$(VPY) -m pip install -q --no-deps -c constraints.txt tf-keras
	$(VPY) -c "import tensorflow, tensorflow_probability, note_seq, symusic, apache_beam, keras; print('setup ok: tf', tensorflow.__version__, 'keras', keras.__version__)"
	touch $(STAMP)

generate: setup
	$(VPY) -m musicgen.generate --num_outputs=5

test: setup
	$(VPY) -m pytest -q tests

bench: setup
	$(VPY) bench/convert.py

clean-venv:
	rm -rf $(VENV)
