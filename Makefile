# Wirepath — see README.md. Every target is safe to re-run.
SHELL      := /bin/bash
SWIFT      ?= swift
CONFIG     ?= release
BIN        := .build/$(CONFIG)/wirepath
DEB_PKGS   := libpcap-dev libxdp-dev libbpf-dev liburing-dev clang llvm iproute2 ethtool \
              tcpdump tshark sockperf linux-perf nftables iputils-ping
# Headless Chromium: the test that renders the HTML report (`compare --report`).
DEB_PKGS   += chromium
ARGS       ?=
# The XDP programs in bpf/, compiled from source on every build (never
# committed). clang -target bpf needs the multiarch include directory for
# <asm/types.h>; gcc or dpkg-architecture names it for the build machine.
CLANG      ?= clang
MULTIARCH  := $(shell gcc -print-multiarch 2>/dev/null || dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null)
BPF_CFLAGS := -O2 -g -Wall -target bpf $(if $(MULTIARCH),-I/usr/include/$(MULTIARCH))
BPF_OBJS   := .build/bpf/xsk_redirect.bpf.o

.PHONY: all deps bpf build compare test test-stress bench bench-c clean fuzz fuzz-build fuzz-smoke fuzz-seeds

all: build

# Installs the Debian packages this and the later paths need, only if missing.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	else echo "deps: all installed"; fi

# wirepath finds the objects in .build/bpf/ above its binary (or next to it, or by
# --xdp-object / WIREPATH_XDP_OBJECT).
bpf: $(BPF_OBJS)

.build/bpf/%.bpf.o: bpf/%.bpf.c bpf/wirepath_xdp.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

build: deps bpf
	$(SWIFT) build -c $(CONFIG)

# The main job: build release and compare every path on the built-in topology.
compare: build
	$(BIN) compare $(ARGS)

# Unit and integration tests (integration needs root; under CI a skip fails).
# The suite is XCTest only; Swift Testing is disabled so that its empty run
# prints no misleading closing line. The last line is "N passed, N failed,
# N skipped", counted per test by .ci/test-summary (also when tests fail);
# the exit code is the test run's.
#
# FILTER=REGEX runs only the matching tests (swift test --filter), for
# developers; the full run (no FILTER) also checks that every test the
# suite declares (each `func test...()` in Tests/) ran. Either way a run
# in which no test ran, or which failed outside any test case, fails.
FILTER     ?=
DECLARED    = $(shell grep -rhoE '^\s*(public )?func test[A-Za-z0-9_]*\(\)' Tests | wc -l)
# The build runs inside the logged pipeline, so a build error is counted as
# a failure outside any test case too.
test: deps bpf
	@mkdir -p .build; set -o pipefail; { $(SWIFT) build --build-tests && \
	  $(SWIFT) test --skip-build --disable-swift-testing $(if $(FILTER),--filter '$(FILTER)'); } 2>&1 | tee .build/test.log; rc=$$?; \
	  .ci/test-summary $(if $(FILTER),,--expect $(DECLARED)) --rc $$rc .build/test.log || { [ $$rc -ne 0 ] || rc=1; }; exit $$rc

# The same suite with every CPU loaded by a background spinner (bounded in
# time, always killed: .ci/with-load): the tests' bounds are meant to hold
# on a loaded 2-core host.
test-stress: deps bpf
	.ci/with-load $(MAKE) test

bench: build bench-c
	bench/sockperf_vs_wirepath.sh
	bench/xdp_vs_socket.sh
	bench/twins.sh

# The minimal C ping-pong loops bench/twins.sh measures Wirepath against
# (built into .build/bench-c/, never committed).
bench-c: deps
	$(MAKE) -C bench/c

# libFuzzer targets (docs/fuzzing.md), in their own scratch path so the normal
# build never sees them: Package.swift declares them only with WIREPATH_FUZZ
# set. SwiftPM passes --sanitize values as separate -sanitize= flags and the
# driver keeps the last, so -Xswiftc repeats them together; --sanitize
# fuzzer is still given, for SwiftPM to link libFuzzer's main.
FUZZ_TARGETS  ?= frame udp payload control reflector peer-report audit pcap
FUZZ_SECONDS  ?= 60
FUZZ_SMOKE_SECONDS ?= 3
FUZZ_BUILD    := WIREPATH_FUZZ=1 $(SWIFT) build --build-path .build-fuzz -c release --sanitize fuzzer \
                 -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing --disable-dead-strip

fuzz-build:
	@for t in $(FUZZ_TARGETS); do $(FUZZ_BUILD) --product fuzz-$$t 2>&1 | grep -v "Cannot export local symbol"; \
	  test $${PIPESTATUS[0]} -eq 0 || exit 1; done

# Each target for FUZZ_SECONDS from the seeds in fuzz/corpus/.
fuzz: fuzz-build
	fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# A few seconds per target: CI runs it after the tests.
fuzz-smoke: fuzz-build
	fuzz/run.sh $(FUZZ_SMOKE_SECONDS) $(FUZZ_TARGETS)

# Rewrites the factory-made seeds (the real capture in fuzz/corpus/pcap stays).
fuzz-seeds: fuzz-build
	@for t in $(FUZZ_TARGETS); do rm -f fuzz/corpus/$$t/seed-*; \
	  ASAN_OPTIONS=detect_leaks=0 WIREPATH_FUZZ_SEEDS=fuzz/corpus/$$t .build-fuzz/release/fuzz-$$t || exit 1; done

clean:
	rm -rf .build .build-fuzz
