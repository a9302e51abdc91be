# smolvm — see README.md. Every target that needs system packages installs
# them first (as root, through apt-get), so each works on a fresh machine.

GO        ?= go
BIN       := bin
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/smolvm/smolvm/internal/cli.Version=$(VERSION)
GOFLAGS   := -trimpath
export CGO_ENABLED := 0

# Debian packages: the kernel source and its build tools, busybox for the
# demo and tests, jq and sqlite3 (dynamic programs for the --binary tests),
# debootstrap for the Debian root filesystem test, QEMU as the
# benchmark's reference VMM.
APT_PKGS  := linux-source-6.12 build-essential flex bison bc libelf-dev cpio busybox-static erofs-utils jq sqlite3 debootstrap
APT_BENCH := qemu-system-x86

.PHONY: all deps build kernel demo test test-unit bench clean

all: build

deps:
	@missing=$$(for p in $(APT_PKGS) $(EXTRA_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	$(GO) mod download

build:
	$(GO) build $(GOFLAGS) -ldflags '$(LDFLAGS)' -o $(BIN)/smolvm ./cmd/smolvm
	$(GO) build $(GOFLAGS) -ldflags '$(LDFLAGS)' -o $(BIN)/smolvm-runtime ./cmd/smolvm-runtime
	$(GO) build $(GOFLAGS) -ldflags '-s -w' -o $(BIN)/smol-init ./cmd/smol-init

# The guest kernel is cached by its inputs (scripts/build-kernel.sh); the
# first build takes about 6 minutes on two cores, later ones are instant.
kernel: deps
	@mkdir -p $(BIN)
	@k="$$(scripts/build-kernel.sh)" && cp "$$k" $(BIN)/vmlinux && cp "$$(dirname "$$k")/System.map" $(BIN)/System.map

# The main job: pack Debian's static busybox and run it.
demo: deps kernel build
	$(BIN)/smolvm build -o $(BIN)/hello.vm --binary /bin/busybox -- busybox echo hello from a smolvm microVM
	$(BIN)/hello.vm

# Unit tests plus real-kernel boots (these skip without /dev/kvm). The
# Debian root filesystem (debootstrap, cached) is for TestBootDebian.
test: deps kernel build
	SMOLVM_BIN=$(CURDIR)/$(BIN) SMOLVM_DEBIAN_ROOT="$$(scripts/debian-root.sh)" $(GO) test -timeout 60m ./...

# Unit tests only: no kernel, no KVM needed.
test-unit:
	$(GO) test -short ./...

bench: EXTRA_PKGS = $(APT_BENCH)
bench: deps kernel build
	SMOLVM_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench . -benchtime 1x -count 3 -timeout 30m ./internal/bench/

clean:
	rm -rf $(BIN)
