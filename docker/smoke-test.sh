#!/usr/bin/env bash
# End-to-end check of the container image without a Docker engine:
#
#   1. installs buildah, debootstrap and curl with apt when missing, and builds the base images
#      with docker/build-offline-base.sh when they are missing (no registry is contacted);
#   2. builds the image from the unchanged Dockerfile with `buildah bud --isolation chroot`;
#   3. checks the image: non-root user, EXPOSE, STOPSIGNAL, HEALTHCHECK, every library of the
#      binary resolved and no Swift runtime library, the packages of docker/runtime-packages.txt;
#   4. starts the server inside the image as the non-root user (`buildah run --isolation
#      chroot`, which shares the host's network: only 127.0.0.1 is used), waits for readiness,
#      runs the image's HEALTHCHECK command, classifies a sample digit over HTTP/2 (h2c) and
#      HTTP/1.1 and checks the label, scrapes /metrics;
#   5. sends SIGTERM and checks that the server drains and exits 0; prints the image size.
#
#   docker/smoke-test.sh            (as root; SMOKE_PORT=18080, IMAGE=localhost/fastvim-serve:smoke)
set -euo pipefail

cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-localhost/fastvim-serve:smoke}
PORT=${SMOKE_PORT:-18080}
SAMPLE_DIR=models/fastvim-digits/samples/7
EXPECTED_LABEL=7
READY_TIMEOUT=${READY_TIMEOUT:-120}
DEBIAN_IMAGE=docker.io/library/debian:bookworm-slim
SWIFT_IMAGE=docker.io/library/swift:6.3-bookworm
export BUILDAH_ISOLATION=chroot

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ok()   { printf '   ok: %s\n' "$*"; }
fail() { printf '   FAIL: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || fail "run as root (buildah with chroot isolation needs it)"

step "prerequisites"
need=()
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
    echo "   installing missing apt packages: ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
curl -V | grep -q HTTP2 || fail "this curl has no HTTP/2 support"
ok "$(buildah --version), $(curl -V | head -n1 | cut -d' ' -f1-2)"
if ! buildah inspect --type image "$DEBIAN_IMAGE" >/dev/null 2>&1 \
   || ! buildah inspect --type image "$SWIFT_IMAGE" >/dev/null 2>&1; then
    echo "   base images missing: running docker/build-offline-base.sh"
    docker/build-offline-base.sh
fi
ok "base images $DEBIAN_IMAGE and $SWIFT_IMAGE are local"

step "build $IMAGE from the Dockerfile (buildah bud --isolation chroot)"
start=$(date +%s)
# --pull=never: only local images; --format docker keeps HEALTHCHECK (OCI has no such field).
buildah bud --isolation chroot --pull=never --format docker --layers -f Dockerfile -t "$IMAGE" .
ok "built in $(( $(date +%s) - start )) s"

step "image configuration"
buildah inspect --type image "$IMAGE" >"${TMPDIR:-/tmp}/fastvim-smoke-inspect.json"
python3 - "${TMPDIR:-/tmp}/fastvim-smoke-inspect.json" <<'EOF' || fail "image configuration"
import json, sys
c = json.load(open(sys.argv[1]))["Docker"]["config"]
def check(cond, what):
    print(f"   {'ok' if cond else 'FAIL'}: {what}")
    if not cond: sys.exit(1)
user = c.get("User", "")
check(user not in ("", "0", "root") and not user.startswith(("0:", "root")), f"non-root user {user!r}")
check("8080/tcp" in (c.get("ExposedPorts") or {}), "EXPOSE 8080")
check(c.get("StopSignal") == "SIGTERM", "STOPSIGNAL SIGTERM")
hc = (c.get("Healthcheck") or {}).get("Test") or []
check(bool(hc) and "healthcheck" in " ".join(hc), f"HEALTHCHECK {hc}")
env = dict(e.split("=", 1) for e in c.get("Env") or [])
check(env.get("FASTVIM_HOST") == "0.0.0.0", "FASTVIM_HOST=0.0.0.0")
check(env.get("FASTVIM_HOME") == "/usr/share/fastvim", "FASTVIM_HOME=/usr/share/fastvim")
EOF

CTR=$(buildah from --pull-never "$IMAGE")
RUN_PID=""
cleanup() {
    [[ -n "$RUN_PID" ]] && kill -0 "$RUN_PID" 2>/dev/null && kill "$RUN_PID" 2>/dev/null
    buildah rm "$CTR" >/dev/null 2>&1 || true
}
trap cleanup EXIT
in_image() { buildah run --isolation chroot "$CTR" -- "$@"; }

step "runtime libraries (docker/runtime-packages.txt)"
libs=$(in_image ldd /usr/local/bin/fastvim)
echo "$libs" | sed 's/^/   /'
! grep -q "not found" <<<"$libs" || fail "unresolved libraries"
! grep -qi "libswift\|libFoundation\|libdispatch" <<<"$libs" || fail "the Swift runtime is linked dynamically"
ok "every library resolves; the Swift runtime is static"
mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' docker/runtime-packages.txt | grep -v '^$')
in_image dpkg-query -W -f='${Package} ${Status}\n' "${pkgs[@]}" | grep -c "install ok installed" \
    | grep -qx "${#pkgs[@]}" || fail "not every package of runtime-packages.txt is installed"
# Each library the binary loads belongs to a listed package or to libc6 (the base image).
for lib in $(awk '/=>/ {print $3}' <<<"$libs"); do
    real=$(in_image readlink -f "$lib")
    owner=$(in_image dpkg -S "$real" 2>/dev/null | head -n1 | cut -d: -f1) \
        || owner=$(in_image dpkg -S "${real#/usr}" 2>/dev/null | head -n1 | cut -d: -f1) || owner=""
    [[ -n "$owner" ]] || fail "$lib ($real) belongs to no package"
    [[ " ${pkgs[*]} libc6 libgfortran5 libquadmath0 " == *" $owner "* ]] \
        || fail "$lib comes from $owner, which docker/runtime-packages.txt does not list"
done
ok "${#pkgs[@]} packages installed; every library comes from them (or libc6 and OpenBLAS's own dependencies)"
in_image test -f /usr/share/fastvim/models/fastvim-digits/fastvim_digits.pth || fail "default model not baked in"
! in_image test -e /usr/share/fastvim/models/fastvim-digits/heldout 2>/dev/null || fail "heldout images in the image"
ok "default model and labels under /usr/share/fastvim"

step "start the server in the image as the image's user (port $PORT, host network)"
USER_SPEC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Docker"]["config"]["User"])' "${TMPDIR:-/tmp}/fastvim-smoke-inspect.json")
if curl -s -o /dev/null "http://127.0.0.1:$PORT/"; then fail "port $PORT is already in use (set SMOKE_PORT)"; fi
LOG=$(mktemp /tmp/fastvim-smoke.XXXXXX.log)
# The image's entrypoint, as the image's user; FASTVIM_PORT picks the port (HOST stays 0.0.0.0
# from the image's ENV; only loopback is used).
buildah run --isolation chroot --user "$USER_SPEC" --env FASTVIM_PORT="$PORT" --env FASTVIM_LOG_LEVEL=info \
    "$CTR" -- /usr/local/bin/fastvim-entrypoint serve --shutdown-timeout 10 >"$LOG" 2>&1 &
RUN_PID=$!
deadline=$(( $(date +%s) + READY_TIMEOUT ))
until [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/v2/health/ready")" == 200 ]]; do
    kill -0 "$RUN_PID" 2>/dev/null || { cat "$LOG"; fail "the server exited before it was ready"; }
    (( $(date +%s) < deadline )) || { cat "$LOG"; fail "not ready after $READY_TIMEOUT s"; }
    sleep 0.5
done
ok "ready after $(( $(date +%s) - deadline + READY_TIMEOUT )) s"
# The server process: the descendant of `buildah run` that executes /usr/local/bin/fastvim.
find_server() {
    local queue=("$RUN_PID") p c
    while ((${#queue[@]})); do
        p=${queue[0]}; queue=("${queue[@]:1}")
        if [[ "$(readlink "/proc/$p/exe" 2>/dev/null)" == */usr/local/bin/fastvim ]]; then echo "$p"; return; fi
        for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do queue+=("$c"); done
    done
}
SERVER_PID=$(find_server)
[[ -n "$SERVER_PID" ]] || fail "no fastvim process under buildah run ($RUN_PID)"
uid=$(awk '/^Uid:/ {print $2}' "/proc/$SERVER_PID/status")
[[ "$uid" != 0 ]] || fail "the server runs as root"
ok "fastvim is pid $SERVER_PID, uid $uid, args: $(tr '\0' ' ' <"/proc/$SERVER_PID/cmdline")"
grep -q "serving on 0.0.0.0:$PORT" "$LOG" || { cat "$LOG"; fail "not listening on 0.0.0.0:$PORT"; }
ok "listening on 0.0.0.0:$PORT"

step "HEALTHCHECK command inside the image"
buildah run --isolation chroot --user "$USER_SPEC" --env FASTVIM_PORT="$PORT" "$CTR" -- \
    /usr/local/bin/fastvim-entrypoint healthcheck || fail "the HEALTHCHECK command failed"
ok "fastvim-entrypoint healthcheck exits 0"

step "classify $SAMPLE_DIR over HTTP/2 and HTTP/1.1"
SAMPLE=$(ls "$SAMPLE_DIR"/*.png | head -n1)
check_label() { # $1 = protocol name, $2 = body file, $3 = http version curl used
    python3 - "$@" "$EXPECTED_LABEL" <<'EOF' || fail "classification over $1"
import json, sys
proto, body, version, expected = sys.argv[1:5]
answer = json.load(open(body))
top = answer["predictions"][0]
print(f"   {proto} (curl says HTTP/{version}): top-1 {top['label']!r} p={top['probability']:.4f}, "
      f"batch {answer['timing']['batch_size']}, inference {answer['timing']['inference_ms']:.2f} ms")
assert top["label"] == expected, f"expected {expected!r}"
EOF
}
body=$(mktemp)
v=$(curl -sS --fail --http2-prior-knowledge -o "$body" -w '%{http_version}' \
      --data-binary @"$SAMPLE" "http://127.0.0.1:$PORT/v1/classify?top_k=3")
[[ "$v" == 2 ]] || fail "h2c request went over HTTP/$v"
check_label h2c "$body" "$v"
v=$(curl -sS --fail --http1.1 -o "$body" -w '%{http_version}' \
      -F image=@"$SAMPLE" "http://127.0.0.1:$PORT/v1/classify?top_k=3")
[[ "$v" == 1.1 ]] || fail "HTTP/1.1 request went over HTTP/$v"
check_label "HTTP/1.1 multipart" "$body" "$v"
ok "label $EXPECTED_LABEL over both protocols"

code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary 'not an image' "http://127.0.0.1:$PORT/v1/classify")
[[ "$code" == 415 ]] || fail "a body that is no image got $code, not 415"
ok "a body that is no image: 415 (counted as a rejection)"

step "/metrics"
curl -sS --fail "http://127.0.0.1:$PORT/metrics" >"$body"
for m in fastvim_requests_total fastvim_request_duration_seconds_bucket fastvim_batch_size \
         fastvim_queue_depth fastvim_rejected_total; do
    grep -q "^$m" "$body" || fail "/metrics lacks $m"
done
grep -E '^fastvim_(requests|rejected)_total' "$body" | sed 's/^/   /' | head -n 8
ok "/metrics has requests, latency histogram, batch size, queue depth and rejections"
rm -f "$body"

step "SIGTERM: drain and exit 0"
kill -TERM "$SERVER_PID"
set +e; wait "$RUN_PID"; rc=$?; set -e
RUN_PID=""
tail -n 4 "$LOG" | sed 's/^/   log: /'
[[ "$rc" == 0 ]] || fail "exit status $rc after SIGTERM"
ok "exit status 0 after SIGTERM"
! curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/health/live" || fail "still listening after exit"
rm -f "$LOG"

step "image size"
buildah images --format '{{.Name}}:{{.Tag}}  {{.Size}}' "$IMAGE" | sed 's/^/   /'
printf '\n\033[1msmoke test passed\033[0m\n'
