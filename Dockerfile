# syntax=docker/dockerfile:1
# FastVim Serve: a small, non-root image with the default model baked in.
#
#   docker build -t fastvim-serve .
#   docker run --rm -p 8080:8080 fastvim-serve
#   curl --http2-prior-knowledge --data-binary @digit.png localhost:8080/v1/classify
#
# Both FROM images are the official ones. Without a registry (air-gapped, or the CI of this
# repository), docker/build-offline-base.sh builds local images under the same names: a
# debootstrapped Debian bookworm and a Swift toolchain image with an offline package mirror.
ARG SWIFT_IMAGE=docker.io/library/swift:6.3-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${SWIFT_IMAGE} AS build
# The C libraries the package links against (headers and .so); already present in the offline
# build image, installed from Debian on the official one.
RUN set -eu; pkgs="libopenblas-dev libdnnl-dev libjpeg-dev libpng-dev zlib1g-dev libnghttp2-dev libssl-dev"; \
    missing=""; for p in $pkgs; do \
      dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"; \
    done; \
    if [ -n "$missing" ]; then \
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
      && rm -rf /var/lib/apt/lists/*; \
    fi
WORKDIR /src
# Dependencies first: this layer stays cached while only the sources change.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
# Release build with the Swift runtime (stdlib, Foundation, Dispatch) linked statically: the
# runtime image needs no Swift libraries, only the C libraries of docker/runtime-packages.txt.
# An image runs on machines other than the one that built it: its kernels target AVX2 unless
# the build says otherwise (--build-arg FASTVIM_CPU=avx512 for an AVX-512 fleet; see README).
ARG FASTVIM_CPU=avx2
RUN swift build -c release --static-swift-stdlib --product fastvim \
    && install -D -m 0755 "$(swift build -c release --show-bin-path)/fastvim" /out/usr/local/bin/fastvim \
    && strip /out/usr/local/bin/fastvim

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="FastVim Serve" \
      org.opencontainers.image.description="Image classification server (FastVim / Vision Mamba) over HTTP/1.1, HTTP/2 and the Open Inference Protocol v2" \
      org.opencontainers.image.licenses="see the repository"
# Only the shared libraries the binary needs, listed once in docker/runtime-packages.txt.
COPY docker/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
         $(sed -e 's/#.*//' /tmp/runtime-packages.txt) \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log /tmp/runtime-packages.txt \
    && groupadd --system --gid 10001 fastvim \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
         --shell /usr/sbin/nologin fastvim

COPY --from=build /out/ /
COPY docker/entrypoint.sh /usr/local/bin/fastvim-entrypoint
# The default model (heldout/ is left out by .dockerignore) and the label lists, where the
# binary looks for them ($FASTVIM_HOME, then /usr/share/fastvim).
COPY models/fastvim-digits /usr/share/fastvim/models/fastvim-digits
COPY models/labels /usr/share/fastvim/models/labels

# Every `serve` option is a flag (arguments after the image name) or a FASTVIM_<OPTION>
# variable (docker/entrypoint.sh). Inside the container the server listens on every interface.
ENV FASTVIM_HOME=/usr/share/fastvim \
    FASTVIM_HOST=0.0.0.0 \
    FASTVIM_PORT=8080
USER 10001:10001
WORKDIR /usr/share/fastvim
EXPOSE 8080
# SIGTERM drains: readiness turns 503, in-flight requests finish, exit 0 within
# --shutdown-timeout (30 s); give the container longer than that to stop (docker stop -t 35).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/fastvim-entrypoint", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/fastvim-entrypoint"]
# `serve` runs: fastvim serve --host ${FASTVIM_HOST:-0.0.0.0} --port ${FASTVIM_PORT:-8080}
#   <flags from FASTVIM_* variables> <arguments after `serve`>; the last of a repeated flag wins.
CMD ["serve"]
