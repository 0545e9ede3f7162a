# `make serve` and `make test` set everything up from a fresh Debian 12 clone (as root).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD_DEPS := cython "setuptools>=68" ada-url==4.0.0
# Rebuilds after the first are incremental through ccache.
export CC := ccache gcc
export CXX := ccache g++

SOURCES := setup.py pyproject.toml $(wildcard ext/*.cc ext/*.h ext/*.pyx ext/*.py ext/js/*.js ext/js/warmup/*.js pyruntime/*.py pyruntime/*/*.py)

.PHONY: install system test test-quick test-cpp test-py test-asan serve bench bench-http bench-http-ab bench-proxy bench-background bench-stream bench-regexp bench-intl bench-dns bench-idle bench-cold-start bench-isolation bench-blast soak lint clean

install: $(VENV)/.installed

system:
	bash scripts/install_system_packages.sh

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(SOURCES) | system $(VENV)/bin/python
	$(PY) -m pip install -q --upgrade pip $(BUILD_DEPS)
	$(PY) -m pip install -q --no-build-isolation ".[test]"
	# esbuild (npm) strips the types of TypeScript apps (pyruntime/engine/typescript.py).
	npm install --silent --no-audit --no-fund --prefix $(VENV)/esbuild esbuild@0.28
	# The built core beside the sources too, so that `python -m pyruntime` works from here.
	cp $(VENV)/lib/python*/site-packages/pyruntime/_core*.so $(VENV)/lib/python*/site-packages/pyruntime/libnode.so.* pyruntime/
	touch $@

test: install lint test-cpp test-py

# The C++ core, its unit tests and its C++ benchmarks (benchmarks/cpp), built without Python.
CMAKE_CONFIGURE = CXX=g++ cmake -S . -B build/cmake -DPython3_EXECUTABLE=$(abspath $(PY)) -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null

test-cpp: install
	$(CMAKE_CONFIGURE)
	cmake --build build/cmake -j2
	ctest --test-dir build/cmake --output-on-failure

# The C++ core and its unit tests under AddressSanitizer, LeakSanitizer and UBSan.
test-asan: install
	CXX=g++ cmake -S . -B build/asan -DPYRUNTIME_SANITIZE=ON -DPython3_EXECUTABLE=$(abspath $(PY)) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER_LAUNCHER=ccache >/dev/null
	cmake --build build/asan -j2
	ctest --test-dir build/asan --output-on-failure

# pytest runs from tests/ so that `import pyruntime` finds the installed package, not the sources.
test-py: install
	cd tests && ../$(VENV)/bin/pytest -q

# The engine and web layers only (no server processes, no npm): a quick check while working.
test-quick: install
	cd tests && ../$(VENV)/bin/pytest -q -m "not slow"

# The console script imports the installed package (`python -m` from here would find the sources).
serve: install
	$(VENV)/bin/pyruntime serve examples/hello/worker.js $(if $(PORT),--port $(PORT))

# Results (Markdown and PNG) go to benchmarks/results/.
bench: install
	$(PY) -m pip install -q mini-racer matplotlib
	$(CMAKE_CONFIGURE)
	cmake --build build/cmake -j2 --target isolate_creation
	$(PY) benchmarks/bench_core.py
	$(PY) benchmarks/bench_first_request.py
	command -v valgrind >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null)
	$(PY) benchmarks/bench_request_path.py --instructions

# pyruntime's servers beside Node.js and, from npm (into build/bench/peers), Deno, Bun and workerd, loaded by wrk.
bench-http: install
	command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)
	$(PY) -m pip install -q matplotlib
	$(PY) benchmarks/bench_http.py $(BENCH_ARGS)
	$(PY) benchmarks/bench_density.py

# CPU per request of this build beside the one BASELINE names (its PYTHONPATH), started in turn.
bench-http-ab: install
	command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)
	@test -n "$(BASELINE)" || (echo "bench-http-ab needs BASELINE=<PYTHONPATH of another build>: see benchmarks/bench_http_ab.py" && exit 2)
	$(PY) benchmarks/bench_http_ab.py --baseline $(BASELINE)

# A proxied body (`return fetch(upstream)`) on each server beside Node's pipe, in MB/s and CPU
# per MB; with BASELINE (another build's PYTHONPATH) that build's servers too, in turn.
bench-proxy: install
	command -v wrk >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)
	$(PY) benchmarks/bench_proxy.py $(if $(BASELINE),--baseline $(BASELINE))

# What a request that sets off WebAssembly tier-up costs the server, beside what it is charged;
# with BASELINE (another build's PYTHONPATH) that build too, in turn.
bench-background: install
	$(PY) benchmarks/bench_background_cpu.py $(if $(BASELINE),--baseline $(BASELINE))

# A server-sent events stream: the server's CPU per event, beside Node's; with BASELINE
# (another build's PYTHONPATH) that build too, in turn.
bench-stream: install
	$(PY) benchmarks/bench_stream.py $(if $(BASELINE),--baseline $(BASELINE))

# Regular expression operations beside Node's V8: what the RegExp guards cost; with BASELINE
# (another build's PYTHONPATH) that build too, in turn.
bench-regexp: install
	$(PY) benchmarks/bench_regexp.py $(if $(BASELINE),--baseline $(BASELINE))

# Intl operations (the cost of ext/js/08_intl_guards.js) beside Node; with BASELINE, another build's.
bench-intl: install
	$(PY) benchmarks/bench_intl.py $(if $(BASELINE),--baseline $(BASELINE))

# What a name lookup of outbound fetch costs: c-ares (engine/dns.py) beside getaddrinfo.
bench-dns: install
	$(PY) benchmarks/bench_dns.py

# A server's CPU while idle after load, beside Node's; with BASELINE (another build's
# PYTHONPATH) that build too, in turn.
bench-idle: install
	$(PY) benchmarks/bench_idle.py $(if $(BASELINE),--baseline $(BASELINE))

# Cold start of this build, started in turn with another one if BASELINE names its PYTHONPATH
# (a `pip install --target` of it: see the script's docstring).
bench-cold-start: install
	$(PY) benchmarks/bench_cold_start.py $(if $(BASELINE),--baseline $(BASELINE))

# What process isolation costs per request: latency and CPU, "shared" beside "process".
bench-isolation: install
	$(PY) benchmarks/bench_isolation.py

# App B's latency alone and while app A runs the hostile catalogue; fails past 3x at p99.
bench-blast: install
	$(PY) benchmarks/bench_blast_radius.py

# Minutes long, so not part of `make test`: mixed normal and hostile traffic against
# `serve --workers 2` with faults injected, then the logs, metrics and RSS are checked.
soak: install
	cd tests && ../$(VENV)/bin/python soak/soak.py

lint: install
	$(VENV)/bin/ruff check pyruntime tests benchmarks setup.py ext/embed_js.py

clean:
	rm -rf build $(VENV) pyruntime.egg-info ext/core.cpp
