# FastVim Serve. `make test` and `make serve` work on a fresh Debian 12 machine with Swift:
# missing system packages are installed first (non-interactively, and we say so).

APT_PACKAGES := libopenblas-dev libdnnl-dev libjpeg-dev libpng-dev zlib1g-dev libnghttp2-dev libssl-dev curl nghttp2-client openssl
# Numeric tests are hot loops: debug Swift is 10-100x slower, so tests run optimised.
SWIFT_RELEASE := -c release
SWIFT_TEST_FLAGS := $(SWIFT_RELEASE) -Xswiftc -enable-testing
DEFAULT_MODEL := models/fastvim-digits/fastvim_digits.pth

.PHONY: all deps build test serve bench clean

all: build

deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "make: installing missing apt packages:$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@# The CUDA kernel sources are compiled by NVRTC in the tests (no GPU needed): PyPI's
	@# nvidia-cuda-nvrtc wheel carries libnvrtc; only its lib/ is kept, in .cache/nvrtc.
	@[ -e .cache/nvrtc/nvidia/cuda_nvrtc/lib/libnvrtc.so.12 ] || { \
	  echo "make: fetching NVRTC (PyPI nvidia-cuda-nvrtc-cu12) into .cache/nvrtc for the CUDA kernel tests"; \
	  mkdir -p .cache/nvrtc && \
	  python3 -m pip download --quiet --no-deps --only-binary=:all: -d .cache/nvrtc nvidia-cuda-nvrtc-cu12==12.9.86 && \
	  python3 -c 'import glob, zipfile; z = zipfile.ZipFile(glob.glob(".cache/nvrtc/*.whl")[0]); [z.extract(n, ".cache/nvrtc") for n in z.namelist() if "/lib/" in n]' && \
	  rm -f .cache/nvrtc/*.whl; }
	@# The metrics test reads /metrics with Prometheus's own parser (prometheus_client, PyPI).
	@python3 -c 'import prometheus_client' 2>/dev/null || { \
	  echo "make: installing prometheus_client from PyPI (for the metrics test)"; \
	  python3 -m pip install --quiet --root-user-action=ignore prometheus_client 2>/dev/null \
	  || python3 -m pip install --quiet --break-system-packages prometheus_client; }

build: deps
	swift build $(SWIFT_RELEASE)

# The suite runs with the checkout's surroundings hidden (scripts/test-isolated): a test that
# reads anything outside the repository, such as ../shared, fails here as it would for a user.
test: deps
	swift build $(SWIFT_TEST_FLAGS) --build-tests
	scripts/test-isolated swift test $(SWIFT_TEST_FLAGS) --skip-build

serve: build
	.build/release/fastvim serve --checkpoint $(DEFAULT_MODEL)

bench: build
	.build/release/fastvim bench --models fastvim-t,vim-t --resolutions 224 --batch 1,8

clean:
	rm -rf .build
