# Wirepath — see README.md. Every target is safe to re-run.
SWIFT      ?= swift
CONFIG     ?= release
BIN        := .build/$(CONFIG)/wirepath
DEB_PKGS   := libpcap-dev libxdp-dev libbpf-dev liburing-dev clang llvm iproute2 ethtool \
              tcpdump tshark sockperf linux-perf
ARGS       ?=

.PHONY: all deps build compare test unit integration bench clean

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

build: deps
	$(SWIFT) build -c $(CONFIG)

# The main job: build release and compare every path on the built-in topology.
compare: build
	$(BIN) compare $(ARGS)

# Unit and integration tests (integration needs root; under CI=true a skip fails).
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

bench: build
	bench/sockperf_vs_wirepath.sh

clean:
	rm -rf .build
