#!/bin/bash
# Container entrypoint of FastVim Serve.
#
#   (no arguments) | serve [FLAGS]   fastvim serve --host $FASTVIM_HOST --port $FASTVIM_PORT
#                                    <flags from FASTVIM_* variables> FLAGS
#   healthcheck                      exit 0 when GET /v2/health/ready answers 200 (HEALTHCHECK)
#   anything else                    fastvim <anything else> (predict, eval, inspect, bench, --help)
#
# KServe's model-server arguments are understood too (docker/kserve/fastvim-runtime.yaml), as
# --opt=VALUE or --opt VALUE, and translated into `fastvim serve` flags:
#   --model_dir DIR     the single *.pth, *.ckpt or *.safetensors file in DIR (KServe's storage
#                       initializer puts it in /mnt/models), with DIR/<stem>.json as its config
#                       when present; none or several is an error. A file is taken as is.
#   --model_name NAME   serve it under NAME (--model NAME=FILE[,config=JSON]); without it,
#                       --checkpoint FILE [--config JSON] (the name the checkpoint implies)
#   --http_port PORT    --port PORT (instead of $FASTVIM_PORT)
#   --grpc_port PORT    ignored, with a log line: the server speaks no gRPC
#
# Every `serve` option can be given as a flag (arguments after the image name; they come last,
# so they win) or as an environment variable: FASTVIM_<OPTION> with the option's name upper-cased
# and dashes as underscores, e.g. FASTVIM_MAX_BATCH_SIZE=16 is --max-batch-size 16.
# FASTVIM_MODEL takes several NAME=PATH[,config=FILE] specs separated by spaces, and
# FASTVIM_LOAD_MODEL several model names (one --load-model each). The flags without a value,
# FASTVIM_PROTECT_HEALTH and FASTVIM_ENABLE_BENCHMARK, are given when set to true, 1 or yes
# (false, 0, no or empty: not given; anything else is an error).
set -euo pipefail

# The binary on the PATH (/usr/local/bin/fastvim in the image; a stub in docker/kserve/test-entrypoint.sh).
BIN=$(type -P fastvim || echo /usr/local/bin/fastvim)
# Inside a container the server must listen on every interface: 0.0.0.0 unless overridden.
HOST=${FASTVIM_HOST:-0.0.0.0}
PORT=${FASTVIM_PORT:-8080}
# Kubernetes "service links" put FASTVIM_PORT=tcp://10.0.0.1:8080 into pods when a Service is
# named fastvim: only a number is a port.
if ! [[ "$PORT" =~ ^[0-9]+$ ]]; then
    echo "fastvim-entrypoint: ignoring FASTVIM_PORT='$PORT' (not a number); using 8080" >&2
    PORT=8080
fi

die() {
    echo "fastvim-entrypoint: $*" >&2
    exit 2
}

# model_file DIR: sets MODEL_FILE to the one checkpoint in DIR (or DIR itself when it is a file)
# and MODEL_CONFIG to <stem>.json (or <file>.json) beside it, when present, else "".
model_file() {
    local dir=${1%/} f found=()
    [[ -z "$dir" ]] && dir=/
    if [[ -f "$dir" ]]; then
        found=("$dir")
    else
        [[ -d "$dir" ]] || die "--model_dir $1: no such directory"
        for f in "$dir"/*.pth "$dir"/*.ckpt "$dir"/*.safetensors; do
            [[ -f "$f" ]] && found+=("$f")
        done
        ((${#found[@]} > 0)) || die "--model_dir $1 holds no *.pth, *.ckpt or *.safetensors file (it holds: $(ls -A "$dir" 2>/dev/null | tr '\n' ' '))"
        ((${#found[@]} == 1)) || die "--model_dir $1 holds ${#found[@]} checkpoints, keep one: ${found[*]}"
    fi
    MODEL_FILE=${found[0]}
    [[ -r "$MODEL_FILE" ]] || die "$MODEL_FILE is not readable by uid $(id -u)"
    MODEL_CONFIG=""
    for f in "${MODEL_FILE%.*}.json" "$MODEL_FILE.json"; do
        if [[ -f "$f" ]]; then
            MODEL_CONFIG=$f
            break
        fi
    done
}

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
    # KServe's arguments out, every other one kept in order for `fastvim serve`.
    kserve_name="" kserve_dir="" kserve_name_set="" rest=()
    while (($#)); do
        arg=$1
        shift
        case "$arg" in
        --model_name | --model_dir | --http_port | --grpc_port)
            (($#)) || die "$arg needs a value"
            val=$1
            shift
            ;;
        --model_name=* | --model_dir=* | --http_port=* | --grpc_port=*)
            val=${arg#*=}
            arg=${arg%%=*}
            ;;
        *)
            rest+=("$arg")
            continue
            ;;
        esac
        case "$arg" in
        --model_name) kserve_name=$val kserve_name_set=1 ;;
        --model_dir) kserve_dir=$val ;;
        --http_port)
            [[ "$val" =~ ^[0-9]+$ ]] || die "--http_port '$val' is not a port number"
            PORT=$val
            ;;
        --grpc_port) echo "fastvim-entrypoint: ignoring --grpc_port $val (the server speaks no gRPC; OIP v2 is served over HTTP/1.1 and h2c)" >&2 ;;
        esac
    done
    kserve=()
    if [[ -n "$kserve_dir" ]]; then
        model_file "$kserve_dir"
        if [[ -n "$kserve_name_set" ]]; then
            [[ -n "$kserve_name" && "$kserve_name" != *=* ]] || die "--model_name '$kserve_name' is not a model name"
            kserve=(--model "$kserve_name=$MODEL_FILE${MODEL_CONFIG:+,config=$MODEL_CONFIG}")
        else
            kserve=(--checkpoint "$MODEL_FILE")
            [[ -n "$MODEL_CONFIG" ]] && kserve+=(--config "$MODEL_CONFIG")
        fi
        echo "fastvim-entrypoint: serving $MODEL_FILE${MODEL_CONFIG:+ (config $MODEL_CONFIG)}${kserve_name_set:+ as $kserve_name}" >&2
    elif [[ -n "$kserve_name_set" ]]; then
        die "--model_name needs --model_dir (the directory holding the checkpoint)"
    fi
    args=(serve --host "$HOST" --port "$PORT")
    # Every option of `fastvim serve` that takes one value (docker/kserve/test-entrypoint.sh
    # checks this list against `fastvim serve --help` when a built binary is at hand).
    for opt in checkpoint config weights model-repository model-control-mode repository-poll-seconds \
               tls-cert tls-key tls-client-ca auth-token-file max-body-bytes max-connections \
               max-concurrent-streams idle-timeout header-timeout body-timeout receive-timeout \
               send-timeout max-buffered-body-bytes max-response-queue-bytes max-activation-bytes \
               max-queued-input-bytes shutdown-timeout max-batch-size max-queue-delay-ms batching max-queue \
               request-timeout-ms top-k benchmark-max-seconds log-level device precision \
               cuda-library-path kernel-cache tile-tokens gemm-library threads decode-workers; do
        var=FASTVIM_$(tr 'a-z-' 'A-Z_' <<<"$opt")
        [[ -n "${!var:-}" ]] && args+=("--$opt" "${!var}")
    done
    for flag in protect-health enable-benchmark; do
        var=FASTVIM_$(tr 'a-z-' 'A-Z_' <<<"$flag")
        case "${!var:-}" in
        true | 1 | yes) args+=("--$flag") ;;
        false | 0 | no | "") ;;
        *) die "$var='${!var}' is not true, 1, yes, false, 0 or no" ;;
        esac
    done
    # Repeatable options from space-separated lists (no globbing: a spec may hold * or ?).
    set -f
    if [[ -n "${FASTVIM_MODEL:-}" ]]; then
        for spec in $FASTVIM_MODEL; do args+=(--model "$spec"); done
    fi
    if [[ -n "${FASTVIM_LOAD_MODEL:-}" ]]; then
        for name in $FASTVIM_LOAD_MODEL; do args+=(--load-model "$name"); done
    fi
    set +f
    # exec: fastvim is PID 1 and receives SIGTERM itself, to drain and exit 0.
    exec "$BIN" "${args[@]}" "${kserve[@]}" "${rest[@]}"
    ;;
*)
    exec "$BIN" "$@"
    ;;
esac
