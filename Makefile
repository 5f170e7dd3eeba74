# Transformer Anatomy — the two commands a reader needs are `make docs` and `make test`.
# Everything installs into .venv; re-running a target on a warm checkout installs nothing
# (stamp files remember what was installed and are redone only when pyproject/package.json change).

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
VENDOR := docs/assets/vendor
PORT   ?= 8000
JOBS   ?= 2

# Keras 3 runs on the torch backend here (no TensorFlow); matplotlib draws without a screen.
export KERAS_BACKEND := torch
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
export PYDEVD_DISABLE_FILE_VALIDATION := 1
export NO_MKDOCS_2_WARNING := 1

.PHONY: docs build test test-unit test-docs metrics reproduce reproduce-quick bench bench-cuda install assets clean help

help:
	@echo "make docs        build the site strictly and serve it on http://127.0.0.1:$(PORT)"
	@echo "make test        every test: unit tests, the strict build, the browser tests"
	@echo "make metrics     per page: visible code lines, figures, words (ARGS=--axe: accessibility)"
	@echo "make reproduce   regenerate every figure and result (scripts/reproduce.py)"
	@echo "make bench       the side-by-side benchmarks in benchmarks/"
	@echo "make bench-cuda  the training-step benchmark on a GPU (scripts/bench.py --device cuda --compile)"

# --- install -------------------------------------------------------------------------------
$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch==2.13.0 first: the CPU build on this machine's disk. A bare `torch` would pull a
# multi-GB CUDA build; the project's range (<2.14) is then satisfied and pip installs no other.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet "torch==2.13.0"
	$(PIP) install --quiet -e ".[docs,test]"
	@touch $@

# KaTeX (math) and Mermaid (diagrams) come from the npm registry at install time and are
# copied into a git-ignored folder that the site serves itself: no CDN, no third-party request.
# onnxruntime-web (the playground): only its WebAssembly build with the glue bundled in
# (ort.wasm.bundle.min.mjs) and its one .wasm; the page runs it single-threaded
# (numThreads = 1), so no cross-origin-isolation headers are needed.
# axe-core stays in node_modules: the browser tests inject it for the accessibility audit.
$(VENDOR)/.installed: package.json
	@command -v npm >/dev/null || { echo "npm is needed for the site's math and diagram assets: apt-get install -y nodejs npm"; exit 1; }
	npm install --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/katex $(VENDOR)/mermaid
	cp -r node_modules/katex/dist/katex.min.css node_modules/katex/dist/katex.min.js \
	      node_modules/katex/dist/fonts node_modules/katex/dist/contrib $(VENDOR)/katex/
	cp node_modules/mermaid/dist/mermaid.min.js $(VENDOR)/mermaid/
	mkdir -p $(VENDOR)/onnxruntime
	cp node_modules/onnxruntime-web/dist/ort.wasm.bundle.min.mjs \
	   node_modules/onnxruntime-web/dist/ort-wasm-simd-threaded.wasm $(VENDOR)/onnxruntime/
	@touch $@

install: $(VENV)/.installed
assets: $(VENDOR)/.installed

# --- site ----------------------------------------------------------------------------------
build: install assets
	$(PY) -m mkdocs build --strict

docs: build
	@echo "Serving the site on http://127.0.0.1:$(PORT)  (Ctrl-C to stop)"
	$(PY) -m http.server $(PORT) --bind 127.0.0.1 --directory site

# --- tests ---------------------------------------------------------------------------------
test: test-unit test-docs

# Two xdist workers on two cores: one torch/BLAS thread each, or tiny ops fight for the cores
# (measured here: 10-50x slower with 2 threads per worker on 2 cores). The library's docstring
# examples run too, as doctests (pyproject.toml: testpaths and --doctest-modules).
test-unit: install
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -n $(JOBS) -m "not docs and not browser" -p no:cacheprovider

# The site tests build the site (and fixture sites) and open it in Debian's chromium; two
# workers, each with its own chromium, share one strict build (tests/docs/conftest.py).
test-docs: install assets
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "The browser tests need Debian's chromium: sudo apt-get install -y chromium"; exit 1; fi; }
	$(PY) -m pytest -n $(JOBS) -m "docs or browser" -p no:cacheprovider

# What a reader sees without clicking, per page (visible code lines, longest visible block,
# figures, prose words, sideways scroll at 390 px); ARGS=--axe adds the axe-core audit.
metrics: build
	$(PY) tests/docs/page_metrics.py site $(ARGS)

# --- results -------------------------------------------------------------------------------
reproduce: install
	$(PY) scripts/reproduce.py $(ARGS)

reproduce-quick: install
	$(PY) scripts/reproduce.py --quick $(ARGS)

bench: install
	$(PY) benchmarks/bench_numpy_vs_torch.py
	$(PY) benchmarks/bench_torch_vs_nn.py
	$(PY) benchmarks/bench_llama_numpy_vs_torch.py
	$(PY) benchmarks/bench_train_step.py --batch-size 64
	$(PY) benchmarks/bench_train_step.py --batch-size 128

# On a CUDA machine (the GPU workflow): every precision, compile, SDPA and checkpointing
# variant, ours vs nn.Transformer interleaved, at the PERF-NOTES sizes.
BENCH_OUT ?= docs/results/bench-cuda.json
bench-cuda: install
	$(PY) scripts/bench.py --device cuda --compile --out $(BENCH_OUT)

clean:
	rm -rf site .pytest_cache .hypothesis
