#!/bin/bash
# Container entrypoint of FastVim Serve.
#
#   (no arguments) | serve [FLAGS]   fastvim serve --host $FASTVIM_HOST --port $FASTVIM_PORT
#                                    <flags from FASTVIM_* variables> FLAGS
#   healthcheck                      exit 0 when GET /v2/health/ready answers 200 (HEALTHCHECK)
#   anything else                    fastvim <anything else> (predict, eval, inspect, bench, --help)
#
# Every `serve` option can be given as a flag (arguments after the image name; they come last,
# so they win) or as an environment variable: FASTVIM_<OPTION> with the option's name upper-cased
# and dashes as underscores, e.g. FASTVIM_MAX_BATCH_SIZE=16 is --max-batch-size 16.
# FASTVIM_MODEL takes several NAME=PATH[,config=FILE] specs separated by spaces.
set -euo pipefail

BIN=/usr/local/bin/fastvim
# Inside a container the server must listen on every interface: 0.0.0.0 unless overridden.
HOST=${FASTVIM_HOST:-0.0.0.0}
PORT=${FASTVIM_PORT:-8080}
# Kubernetes "service links" put FASTVIM_PORT=tcp://10.0.0.1:8080 into pods when a Service is
# named fastvim: only a number is a port.
if ! [[ "$PORT" =~ ^[0-9]+$ ]]; then
    echo "fastvim-entrypoint: ignoring FASTVIM_PORT='$PORT' (not a number); using 8080" >&2
    PORT=8080
fi

case "${1:-serve}" in
healthcheck)
    # bash's /dev/tcp: no curl in the image.
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || exit 1
    printf 'GET /v2/health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
    IFS= read -r -t 3 status <&3 || exit 1
    [[ "$status" == "HTTP/1.1 200"* ]]
    exit
    ;;
serve | -*)
    [[ "${1:-}" == serve ]] && shift
    args=(serve --host "$HOST" --port "$PORT")
    for opt in checkpoint config weights tls-cert tls-key max-body-bytes max-connections \
               max-concurrent-streams idle-timeout header-timeout body-timeout shutdown-timeout \
               max-batch-size max-queue-delay-ms max-queue request-timeout-ms top-k log-level \
               device precision cuda-library-path kernel-cache threads decode-workers; do
        var=FASTVIM_$(tr 'a-z-' 'A-Z_' <<<"$opt")
        [[ -n "${!var:-}" ]] && args+=("--$opt" "${!var}")
    done
    if [[ -n "${FASTVIM_MODEL:-}" ]]; then
        for spec in $FASTVIM_MODEL; do args+=(--model "$spec"); done
    fi
    # exec: fastvim is PID 1 and receives SIGTERM itself, to drain and exit 0.
    exec "$BIN" "${args[@]}" "$@"
    ;;
*)
    exec "$BIN" "$@"
    ;;
esac
