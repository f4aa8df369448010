#!/usr/bin/env bash
# Builds, without any container registry, the two base images the Dockerfile starts FROM:
#
#   docker.io/library/debian:bookworm-slim  Debian 12 minbase made with debootstrap from the
#                                           Debian mirror apt already uses (or $DEBIAN_MIRROR)
#   docker.io/library/swift:6.3-bookworm    that Debian plus the C build dependencies, the local
#                                           Swift toolchain ($SWIFT_TOOLCHAIN, default /opt/swift)
#                                           and an offline git mirror of the Swift packages that
#                                           Package.swift needs ($SWIFT_PACKAGES, /opt/swift-packages)
#
# The names are the ones the official images carry, so the unchanged Dockerfile builds the same
# way on an air-gapped machine (with these) and on a connected one (with the official images).
# Needs root, buildah and debootstrap (installed with apt when missing). Idempotent: an image
# that already exists is kept unless --force is given.
#
#   docker/build-offline-base.sh [--force]
set -euo pipefail

DEBIAN_IMAGE=${DEBIAN_IMAGE:-docker.io/library/debian:bookworm-slim}
SWIFT_IMAGE=${SWIFT_IMAGE:-docker.io/library/swift:6.3-bookworm}
SWIFT_TOOLCHAIN=${SWIFT_TOOLCHAIN:-/opt/swift}
SWIFT_PACKAGES=${SWIFT_PACKAGES:-/opt/swift-packages}
SUITE=bookworm
# The packages (and everything they depend on) that Package.swift resolves; the mirror holds
# bare repositories at <owner>/<name>.git, and git maps https://github.com/ onto it.
MIRRORED_PACKAGES=(apple/swift-argument-parser apple/swift-log apple/swift-metrics
                   swift-server/swift-prometheus apple/swift-atomics)
# What the official swift:*-bookworm image installs, plus the libraries this project links.
SWIFT_BUILD_DEPS=(binutils git gnupg2 ca-certificates libc6-dev libcurl4-openssl-dev libedit2
                  libgcc-12-dev libpython3-dev libsqlite3-0 libstdc++-12-dev libxml2-dev
                  libncurses-dev libz3-dev pkg-config tzdata zlib1g-dev uuid-dev
                  libopenblas-dev libdnnl-dev libjpeg-dev libpng-dev libnghttp2-dev libssl-dev)
# Parts of the toolchain a command-line `swift build` never uses (debugger, IDE services,
# documentation, embedded Swift): leaving them out saves about 1.5 GB.
TOOLCHAIN_EXCLUDES=(usr/bin/lldb usr/bin/lldb-server usr/bin/lldb-dap usr/bin/lldb-argdumper
                    usr/bin/repl_swift 'usr/lib/liblldb.so*' usr/bin/sourcekit-lsp
                    'usr/lib/libsourcekitdInProc.so' usr/bin/clangd usr/bin/docc
                    usr/bin/swift-format usr/lib/swift/embedded usr/share/docc)

FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

log() { printf '\033[1mbuild-offline-base:\033[0m %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (debootstrap and buildah mount need it)"

need=()
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)
if ((${#need[@]})); then
    log "installing missing apt packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

have_image() { buildah inspect --type image "$1" >/dev/null 2>&1; }

# The mirror apt is configured with (deb822 .sources or one-line .list), else deb.debian.org.
detect_mirror() {
    local m
    m=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)
    [[ -n "$m" ]] || m=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
                        | grep -E "[[:space:]]$SUITE[[:space:]]" | awk '{print $2}' | head -n1 || true)
    echo "${m:-http://deb.debian.org/debian}"
}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-$(detect_mirror)}
SECURITY_MIRROR=${SECURITY_MIRROR:-${DEBIAN_MIRROR%/debian}/debian-security}

WORK=$(mktemp -d /var/tmp/fastvim-base.XXXXXX)
CONTAINERS=()
cleanup() {
    for c in "${CONTAINERS[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

build_debian() {
    log "debootstrap --variant=minbase $SUITE from $DEBIAN_MIRROR"
    local root=$WORK/rootfs
    debootstrap --variant=minbase --components=main "$SUITE" "$root" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
    # What the official slim image does: apt sources for updates and security, no docs or
    # man pages installed by later apt runs, no caches, no recommends.
    cat >"$root/etc/apt/sources.list" <<EOF
deb $DEBIAN_MIRROR $SUITE main
deb $DEBIAN_MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
    cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
APT::Install-Recommends "false";
EOF
    # Documentation and translations debootstrap installed before the excludes existed.
    find "$root/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete
    find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
           "$root"/usr/share/man/* "$root"/usr/share/info/* \
           "$root"/var/log/*.log "$root"/tmp/* "$root"/dev/*
    : >"$root/etc/machine-id"

    local ctr mnt
    ctr=$(buildah from scratch); CONTAINERS+=("$ctr")
    mnt=$(buildah mount "$ctr")
    tar -C "$root" -cf - . | tar -C "$mnt" -xf -
    buildah umount "$ctr" >/dev/null
    buildah config --os linux --arch amd64 --cmd '["bash"]' \
        --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --label org.opencontainers.image.description="Debian $SUITE minbase (debootstrap, built offline by docker/build-offline-base.sh)" \
        "$ctr"
    buildah commit --rm -q "$ctr" "$DEBIAN_IMAGE" >/dev/null
    CONTAINERS=("${CONTAINERS[@]/$ctr}")
    log "committed $DEBIAN_IMAGE"
}

build_swift() {
    [[ -x "$SWIFT_TOOLCHAIN/usr/bin/swift" ]] || die "no Swift toolchain at $SWIFT_TOOLCHAIN (set SWIFT_TOOLCHAIN)"
    for p in "${MIRRORED_PACKAGES[@]}"; do
        [[ -d "$SWIFT_PACKAGES/$p.git" || -d "$SWIFT_PACKAGES/$p" ]] || die "package mirror lacks $p (under $SWIFT_PACKAGES)"
    done
    local ctr mnt
    ctr=$(buildah from --pull-never "$DEBIAN_IMAGE"); CONTAINERS+=("$ctr")
    log "installing the Swift build dependencies with apt (${#SWIFT_BUILD_DEPS[@]} packages)"
    buildah run --isolation chroot "$ctr" -- sh -c \
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${SWIFT_BUILD_DEPS[*]} >/dev/null && rm -rf /var/lib/apt/lists/*"

    log "copying the Swift toolchain from $SWIFT_TOOLCHAIN into /usr"
    mnt=$(buildah mount "$ctr")
    local ex=()
    for e in "${TOOLCHAIN_EXCLUDES[@]}"; do ex+=(--exclude="./$e"); done
    tar -C "$SWIFT_TOOLCHAIN" "${ex[@]}" -cf - ./usr | tar -C "$mnt" --keep-directory-symlink -xf -

    log "copying the package mirror (${MIRRORED_PACKAGES[*]}) to /opt/swift-packages"
    for p in "${MIRRORED_PACKAGES[@]}"; do
        local src="$SWIFT_PACKAGES/$p.git"; [[ -d "$src" ]] || src="$SWIFT_PACKAGES/$p"
        mkdir -p "$mnt/opt/swift-packages/$(dirname "$p")"
        cp -a "$src" "$mnt/opt/swift-packages/$(dirname "$p")/"
    done
    # git (and so SwiftPM) reads https://github.com/<owner>/<name>[.git] from the mirror.
    cat >"$mnt/etc/gitconfig" <<'EOF'
[url "/opt/swift-packages/"]
	insteadOf = https://github.com/
	insteadOf = git@github.com:
	insteadOf = ssh://git@github.com/
[safe]
	directory = *
EOF
    buildah umount "$ctr" >/dev/null
    buildah run --isolation chroot "$ctr" -- swift --version
    buildah config --cmd '["bash"]' \
        --label org.opencontainers.image.description="Swift $("$SWIFT_TOOLCHAIN/usr/bin/swift" --version 2>/dev/null | head -n1 | sed 's/.*version \([^ ]*\).*/\1/') on Debian $SUITE with an offline package mirror (docker/build-offline-base.sh)" \
        "$ctr"
    log "committing $SWIFT_IMAGE (a few GB; takes a minute)"
    buildah commit --rm -q "$ctr" "$SWIFT_IMAGE" >/dev/null
    CONTAINERS=("${CONTAINERS[@]/$ctr}")
    log "committed $SWIFT_IMAGE"
}

if ((FORCE)) || ! have_image "$DEBIAN_IMAGE"; then build_debian; else log "$DEBIAN_IMAGE exists (--force rebuilds it)"; fi
if ((FORCE)) || ! have_image "$SWIFT_IMAGE"; then build_swift; else log "$SWIFT_IMAGE exists (--force rebuilds it)"; fi
buildah images --format '{{.Name}}:{{.Tag}}  {{.Size}}' | grep -E "debian:bookworm-slim|swift:6.3-bookworm" >&2 || true
