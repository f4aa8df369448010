#!/usr/bin/env bash
# Validates docker/compose.yaml against the Compose Specification JSON schema and the
# Kubernetes manifests in docker/k8s/ against the Kubernetes OpenAPI-derived JSON schemas
# (strict: unknown fields are errors), the KServe manifests in docker/kserve/ against KServe's CRD
# schemas (docker/kserve/crds/, strict likewise), plus the consistency checks of validate_manifests.py
# (drain timing, probes, selectors, dashboard metrics, Dockerfile instructions, the KServe runtime's
# arguments, ports and annotations, docker/kserve/test-entrypoint.sh; the token Secret and the
# model-repository claim of the Deployment, memory for a version swap, the Prometheus bearer
# token and the compose secrets, docker/make-tokens.sh).
#
# Schemas come from PyPI packages, installed into a throwaway venv ($VALIDATE_VENV):
#   kubernetes-validate 1.37.0  Kubernetes JSON schemas v1.25 ... v1.37 (checked: 1.29, 1.33, 1.37)
#   docker-compose 1.29.2       (--no-deps, only for its compose/config/compose_spec.json: the
#                               Compose Specification schema, draft 2019-09, as of 2021)
#   jsonschema, PyYAML, dockerfile-parse
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VALIDATE_VENV:-/tmp/fastvim-validate-venv}
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import kubernetes_validate, jsonschema, yaml, dockerfile_parse' 2>/dev/null; then
    echo "validate-manifests: creating $VENV with the schema packages from PyPI" >&2
    python3 -m venv "$VENV" || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$VENV"; }
    "$VENV/bin/pip" install -q --disable-pip-version-check \
        'kubernetes-validate==1.37.0' 'jsonschema>=4.18' 'PyYAML>=6' 'dockerfile-parse>=2'
    "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps 'docker-compose==1.29.2'
fi
exec "$VENV/bin/python" docker/validate_manifests.py "$@"
