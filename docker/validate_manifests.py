"""Schema and consistency checks for docker/compose.yaml, docker/k8s/*.yaml (and examples/), the KServe
manifests of docker/kserve/ (against KServe's own CRD schemas, docker/kserve/crds/), the Grafana
dashboard, the Prometheus config and both Dockerfiles. Run through docker/validate-manifests.sh.
Each check prints `ok` or `FAIL`; the exit status is the number of failures (0: all passed).
Negative controls (a broken copy of each manifest must be rejected) prove the validators bite."""
import copy
import glob
import importlib.metadata
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema
import kubernetes_validate
import yaml
from dockerfile_parse import DockerfileParser

K8S_VERSIONS = ["1.29.0", "1.33.0", "1.37.0"]
failures = 0


def check(cond, what):
    global failures
    print(f"{'ok' if cond else 'FAIL'}: {what}")
    failures += 0 if cond else 1
    return cond


def quantity(q):
    m = re.fullmatch(r"([0-9.]+)([KMGTE]i?)?", str(q))
    return float(m.group(1)) * ({"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "K": 1e3, "M": 1e6, "G": 1e9,
                                 "T": 1e12}.get(m.group(2), 1))


def compose_schema():
    dist = importlib.metadata.distribution("docker-compose")
    path = next(f for f in dist.files if str(f).endswith("compose/config/compose_spec.json"))
    return json.load(open(dist.locate_file(path))), f"compose_spec.json of docker-compose {dist.version}"


def compose_errors(doc, schema):
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft201909Validator)
    return sorted(cls(schema).iter_errors(doc), key=lambda e: list(e.path))


# --- Compose --------------------------------------------------------------------------------
schema, schema_name = compose_schema()
compose = yaml.safe_load(open("docker/compose.yaml"))
errs = compose_errors(compose, schema)
for e in errs:
    print(f"   {'/'.join(map(str, e.path))}: {e.message}")
check(not errs, f"docker/compose.yaml is valid against {schema_name}")
broken = copy.deepcopy(compose)
broken["services"]["fastvim"]["helthcheck"] = broken["services"]["fastvim"].pop("healthcheck")
check(compose_errors(broken, schema), "negative control: a misspelt compose key is rejected")
svc = compose["services"]
check({"fastvim", "prometheus", "grafana"} <= set(svc), "compose: fastvim, prometheus and grafana services")
grace = int(str(svc["fastvim"]["stop_grace_period"]).rstrip("s"))
drain = int(svc["fastvim"]["environment"]["FASTVIM_SHUTDOWN_TIMEOUT"])
check(grace > drain, f"compose: stop_grace_period {grace}s > --shutdown-timeout {drain}s")

prom = yaml.safe_load(open("docker/prometheus/prometheus.yml"))
targets = [t for job in prom["scrape_configs"] for sc in job.get("static_configs", []) for t in sc["targets"]]
check("fastvim:8080" in targets, "prometheus scrapes fastvim:8080 (the compose service)")

# Access control: AccessControl.read's rules for a token file, and the secrets that carry it.
SCOPES = {"inference", "metadata", "admin"}


def token_file(text):
    """[(token, scopes)] as the server reads the file, or raises ValueError saying why."""
    out = []
    for n, raw in enumerate(text.split("\n"), 1):
        fields = re.split(r"[ \t\r]+", raw.split("#", 1)[0].strip(" \t\r"))
        fields = [f for f in fields if f]
        if not fields:
            continue
        if len(fields) != 2:
            raise ValueError(f"line {n}: expected `<token> <scope>[,<scope>...]`")
        if not 16 <= len(fields[0].encode()) <= 512:
            raise ValueError(f"line {n}: a token must have 16 to 512 characters")
        scopes = {x for x in fields[1].split(",") if x}
        if not scopes <= SCOPES:
            raise ValueError(f"line {n}: unknown scope {sorted(scopes - SCOPES)}")
        out.append((fields[0], scopes))
    if not out:
        raise ValueError("holds no token")
    return out


def refused(text):
    try:
        token_file(text)
        return ""
    except ValueError as e:
        return str(e)


check(refused("0123456789abcdef inference,metrics") and refused("short admin") and refused("# none\n")
      and not refused("0123456789abcdef inference,metadata # x\n\n0123456789abcdeg admin\n"),
      "negative control: the token-file rules refuse an unknown scope, a short token, an empty file")


def scrape_token_file(prom_config, job_name):
    job = next((j for j in prom_config["scrape_configs"] if j["job_name"] == job_name), {})
    auth = job.get("authorization") or {}
    return auth.get("credentials_file") if auth.get("type", "Bearer") == "Bearer" else None


def compose_secret_path(service, path):
    """The compose secret mounted at `path` in `service` (/run/secrets/<target>), or None."""
    for sec in service.get("secrets", []):
        src, target = (sec, sec) if isinstance(sec, str) else (sec["source"], sec.get("target", sec["source"]))
        if (target if target.startswith("/") else "/run/secrets/" + target) == path:
            return src
    return None


cred = scrape_token_file(prom, "fastvim")
msecret = compose_secret_path(svc["prometheus"], cred or "")
check(cred is not None and msecret in compose.get("secrets", {}),
      f"prometheus: the fastvim job sends a bearer token from {cred}, the compose secret {msecret} mounted into prometheus")
nomauth = copy.deepcopy(prom)
next(j for j in nomauth["scrape_configs"] if j["job_name"] == "fastvim").pop("authorization", None)
check(scrape_token_file(nomauth, "fastvim") is None, "negative control: a fastvim job without authorization is caught")
tfile = svc["fastvim"]["environment"].get("FASTVIM_AUTH_TOKEN_FILE", "")
tsecret = compose_secret_path(svc["fastvim"], tfile)
check(tsecret in compose.get("secrets", {}), f"compose: FASTVIM_AUTH_TOKEN_FILE {tfile} is the compose secret {tsecret}")
check("FASTVIM_PROTECT_HEALTH" not in svc["fastvim"]["environment"], "compose: health stays open for the healthcheck")
files = {k: os.path.normpath(os.path.join("docker", compose["secrets"][k]["file"])) for k in (tsecret, msecret) if k}
ignored = bool(files) and all(subprocess.run(["git", "check-ignore", "-q", f]).returncode == 0 for f in files.values())
check(len(files) == 2 and ignored, f"compose: the secret files {sorted(files.values())} are git-ignored")
with tempfile.TemporaryDirectory() as tmp:
    made = subprocess.run(["bash", "docker/make-tokens.sh", tmp + "/s"], capture_output=True, text=True)
    try:
        toks = token_file(open(tmp + "/s/tokens").read())
        mtok = open(tmp + "/s/metrics-token").read().strip()
        ok_tokens = set().union(*(sc for _, sc in toks)) == SCOPES and any(t == mtok and "metadata" in sc for t, sc in toks)
    except (OSError, ValueError) as e:
        ok_tokens = False
        print(f"   {e}\n{made.stderr}")
    again = subprocess.run(["bash", "docker/make-tokens.sh", tmp + "/s"], capture_output=True, text=True)
check(made.returncode == 0 and ok_tokens and again.returncode != 0,
      "docker/make-tokens.sh: a token file the server reads (each scope once), metrics-token its metadata token; an existing one is kept")
check({os.path.basename(f) for f in files.values()} == {"tokens", "metrics-token"}
      and {os.path.dirname(f) for f in files.values()} == {"docker/secrets"},
      "compose: the secrets are the files docker/make-tokens.sh writes by default (docker/secrets/)")
ds = yaml.safe_load(open("docker/grafana/provisioning/datasources/prometheus.yaml"))
check(ds["datasources"][0]["url"] == "http://prometheus:9090", "grafana datasource points at the prometheus service")
dash = json.load(open("docker/grafana/dashboards/fastvim.json"))
exprs = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
for metric in ["fastvim_requests_total", "fastvim_request_duration_seconds_bucket", "fastvim_batch_size",
               "fastvim_queue_depth", "fastvim_rejected_total"]:
    check(metric in exprs, f"dashboard uses {metric}")
check("histogram_quantile" in exprs and "by (code)" in exprs and "by (reason)" in exprs,
      "dashboard: latency percentiles, status codes and rejection reasons")
uids = {t["datasource"]["uid"] for p in dash["panels"] for t in p["targets"]}
check(uids == {ds["datasources"][0]["uid"]}, "dashboard panels use the provisioned datasource uid")

# --- Kubernetes -----------------------------------------------------------------------------
docs, examples = {}, {}  # kind -> document: docker/k8s/*.yaml (kubectl apply -f docker/k8s/), examples/
for path in sorted(glob.glob("docker/k8s/*.yaml")) + sorted(glob.glob("docker/k8s/examples/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        if doc:
            (examples if "/examples/" in path else docs)[doc["kind"]] = doc
            for v in K8S_VERSIONS:
                try:
                    kubernetes_validate.validate(doc, v, strict=True)
                    check(True, f"{path} {doc['kind']} ({doc['apiVersion']}) valid for Kubernetes {v} (strict)")
                except Exception as e:  # ValidationError, SchemaNotFoundError
                    check(False, f"{path} {doc['kind']} for Kubernetes {v}: {getattr(e, 'message', e)}")
check({"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "PersistentVolumeClaim"} <= set(docs),
      "k8s: Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget, PersistentVolumeClaim")
check("Secret" not in docs and {"Secret", "Pod"} <= set(examples),
      "k8s: the example Secret and the models writer Pod are in examples/, out of `kubectl apply -f docker/k8s/`")
bad = copy.deepcopy(docs["Deployment"])
bad["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
try:
    kubernetes_validate.validate(bad, K8S_VERSIONS[-1], strict=True)
    check(False, "negative control: a misspelt Deployment field is rejected")
except kubernetes_validate.ValidationError:
    check(True, "negative control: a misspelt Deployment field is rejected")

dep = docs["Deployment"]
pod = dep["spec"]["template"]["spec"]
c = pod["containers"][0]
env = {e["name"]: e.get("value") for e in c.get("env", [])}
drain = int(env.get("FASTVIM_SHUTDOWN_TIMEOUT", 30))
pre = c["lifecycle"]["preStop"]["exec"]["command"]
pre_s = int(pre[-1]) if pre[0] == "sleep" else 0
check(pod["terminationGracePeriodSeconds"] > drain + pre_s,
      f"k8s: terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} > preStop {pre_s}s + drain {drain}s")
check(c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready", "k8s: readiness probe on /v2/health/ready")
check(c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live", "k8s: liveness probe on /v2/health/live")
check(all(k in c["resources"].get(w, {}) for w in ("requests", "limits") for k in ("cpu", "memory")),
      "k8s: CPU and memory requests and limits")
check(pod["securityContext"].get("runAsNonRoot") is True, "k8s: runAsNonRoot")
check(pod.get("enableServiceLinks") is False, "k8s: no service-link variables (FASTVIM_PORT stays a number)")
labels = dep["spec"]["template"]["metadata"]["labels"]
matches = lambda sel: all(labels.get(k) == v for k, v in sel.items())
check(matches(docs["Service"]["spec"]["selector"]), "k8s: the Service selects the pods")
check(matches(docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]), "k8s: the PDB selects the pods")
check(all(p.get("httpGet", {}).get("path", "").startswith("/v2/health/") and not p["httpGet"].get("httpHeaders")
          for p in (c["startupProbe"], c["readinessProbe"], c["livenessProbe"]))
      and env.get("FASTVIM_PROTECT_HEALTH", "false") in ("false", "0", "no", ""),
      "k8s: the probes use the open health routes (no FASTVIM_PROTECT_HEALTH), no token in the manifest")

# Tokens: FASTVIM_AUTH_TOKEN_FILE is a key of the Secret, mounted whole (not subPath, which the
# kubelet never updates) and read-only, readable by the pod's user.
vols = {v["name"]: v for v in pod.get("volumes", [])}
mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}


def secret_file(container, volumes, path):
    """(secret name, key) whose file `path` is in the container, or None."""
    for m in container.get("volumeMounts", []):
        v = volumes.get(m["name"], {}).get("secret")
        if v and not m.get("subPath") and m.get("readOnly") and path.startswith(m["mountPath"].rstrip("/") + "/"):
            rel = path[len(m["mountPath"].rstrip("/")) + 1:]
            items = v.get("items")
            key = next((i["key"] for i in items if i["path"] == rel), None) if items else rel
            if key:
                return v["secretName"], key
    return None


tf = env.get("FASTVIM_AUTH_TOKEN_FILE", "")
ref_tokens = secret_file(c, vols, tf)
sec = examples.get("Secret", {})
check(ref_tokens is not None and ref_tokens[0] == sec.get("metadata", {}).get("name")
      and ref_tokens[1] in sec.get("stringData", {}),
      f"k8s: FASTVIM_AUTH_TOKEN_FILE {tf} is key {ref_tokens and ref_tokens[1]} of Secret {ref_tokens and ref_tokens[0]}, "
      "mounted read-only without subPath; the example Secret has that name and key")
bad = copy.deepcopy(c)
next(m for m in bad["volumeMounts"] if m["mountPath"] == "/etc/fastvim")["subPath"] = "tokens"
check(secret_file(bad, vols, tf) is None, "negative control: a subPath token mount is caught")
sv = next((v["secret"] for v in vols.values() if v.get("secret", {}).get("secretName") == (ref_tokens or [""])[0]), {})
mode, fsg = sv.get("defaultMode", 0o644), pod["securityContext"].get("fsGroup")
check(bool(mode & 0o004) or (fsg is not None and bool(mode & 0o040)),
      f"k8s: the token file (mode {oct(mode)}, fsGroup {fsg}) is readable by user {pod['securityContext'].get('runAsUser')}")
placeholder = sec.get("stringData", {}).get("tokens", "")
lines = [l.split("#", 1)[0].split() for l in placeholder.splitlines() if l.split("#", 1)[0].strip()]
check(len(lines) >= 3 and {x for l in lines for x in l[1].split(",")} == SCOPES and "16 to 512" in refused(placeholder),
      "k8s: the example Secret lists a token of each scope, placeholders the server refuses (it cannot be deployed as is)")
mt = sec.get("stringData", {}).get("metrics-token", "")
check(any(l[0] == mt and "metadata" in l[1].split(",") for l in lines),
      "k8s: the example Secret's metrics-token is its metadata token (for Prometheus)")

# The model repository: a read-only mount of the claim in models-pvc.yaml, explicit control.
pvc = docs["PersistentVolumeClaim"]
repo_dir = env.get("FASTVIM_MODEL_REPOSITORY", "")
rm = mounts.get(repo_dir, {})
rv = vols.get(rm.get("name"), {}).get("persistentVolumeClaim", {})
check(rv.get("claimName") == pvc["metadata"]["name"] and rm.get("readOnly") is True and rv.get("readOnly") is True
      and not rm.get("subPath"),
      f"k8s: FASTVIM_MODEL_REPOSITORY {repo_dir} is the claim {pvc['metadata']['name']}, mounted read-only")
many = max(dep["spec"].get("replicas", 1), docs["HorizontalPodAutoscaler"]["spec"]["maxReplicas"]) > 1
check(not many or set(pvc["spec"]["accessModes"]) & {"ReadWriteMany", "ReadOnlyMany"},
      f"k8s: the models claim ({pvc['spec']['accessModes']}) can be mounted by replicas on several nodes")
load = (env.get("FASTVIM_LOAD_MODEL") or "").split()
check(env.get("FASTVIM_MODEL_CONTROL_MODE") == "explicit" and load
      and all(re.fullmatch(r"[^./][^/]*", n) for n in load) and not env.get("FASTVIM_CHECKPOINT") and not env.get("FASTVIM_MODEL"),
      f"k8s: explicit model control, FASTVIM_LOAD_MODEL {load} (plain model names), no other model source")
writer = examples["Pod"]
wc = writer["spec"]["containers"][0]
wv = {v["name"]: v for v in writer["spec"].get("volumes", [])}
wm = next((m for m in wc.get("volumeMounts", []) if wv.get(m["name"], {}).get("persistentVolumeClaim", {}).get("claimName")
           == pvc["metadata"]["name"]), {})
check(wm.get("mountPath") == repo_dir and not wm.get("readOnly") and not wv[wm["name"]]["persistentVolumeClaim"].get("readOnly")
      and wc["image"] == c["image"],
      f"k8s: the models writer mounts the claim read-write at {repo_dir}, with the serving image")

# Memory: while a model's new version loads, the old one still serves its queue, so each model
# is resident twice, each copy with its own activation and queued-input budgets (the server's
# defaults when unset); 256 MiB more for the process and the weights.
MiB = 2**20
SERVER_DEFAULTS = {"FASTVIM_MAX_BUFFERED_BODY_BYTES": 128 * MiB, "FASTVIM_MAX_ACTIVATION_BYTES": 256 * MiB,
                   "FASTVIM_MAX_QUEUED_INPUT_BYTES": 128 * MiB}


def memory_need(e, models):
    b = {k: int(e.get(k) or d) for k, d in SERVER_DEFAULTS.items()}
    return b["FASTVIM_MAX_BUFFERED_BODY_BYTES"] + 2 * models * (b["FASTVIM_MAX_ACTIVATION_BYTES"]
                                                                 + b["FASTVIM_MAX_QUEUED_INPUT_BYTES"]) + 256 * MiB


limit = quantity(c["resources"]["limits"]["memory"])
need = memory_need(env, max(1, len(load)))
check(need <= limit, f"k8s: memory limit {c['resources']['limits']['memory']} holds bodies + 2 x {len(load)} model(s) x "
      f"(activations + queued inputs) + 256 MiB = {need // MiB} MiB (a version swap)")
check(memory_need({k: v for k, v in env.items() if k != "FASTVIM_MAX_ACTIVATION_BYTES"}, max(1, len(load))) > limit,
      "negative control: the default activation budget (256 MiB) twice does not fit the limit")

ref = docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
check(ref["kind"] == "Deployment" and ref["name"] == dep["metadata"]["name"], "k8s: the HPA scales the Deployment")
check(any(m["type"] == "Resource" and m["resource"]["name"] == "cpu"
          for m in docs["HorizontalPodAutoscaler"]["spec"]["metrics"]), "k8s: the HPA scales on CPU")

# --- KServe ---------------------------------------------------------------------------------
# KServe's CRDs (docker/kserve/crds/, verbatim from kserve/kserve, see its README) carry an
# OpenAPI v3 structural schema per served version. The API server prunes fields a schema does not
# name, and kubectl (1.27+, --validate=strict by default) turns each into an error; so here an
# object with `properties` accepts no other field unless it says x-kubernetes-preserve-unknown-fields
# (or has additionalProperties). nullable, int32/int64 ranges and x-kubernetes-list-type
# (map keys and set items unique) are enforced too; metadata is checked against the strict
# Kubernetes ObjectMeta schema of kubernetes-validate. CEL rules (x-kubernetes-validations) are
# not evaluated: these two CRDs have none (checked below).
KSERVE_CRDS = {  # file -> git blob id at kserve/kserve aaac4e294dae2c7b1aa1886447793f3aa1c30912
    "docker/kserve/crds/serving.kserve.io_clusterservingruntimes.yaml": "b31251fed81fb8839c7a34ea0ca02fc557dec32d",
    "docker/kserve/crds/serving.kserve.io_inferenceservices.yaml": "1e37d05b7a741eb40b9eb01c378dc9dc80eab3d9",
}
# pkg/constants/constants.go: InferenceServiceProtocol values a runtime may list.
KSERVE_PROTOCOLS = {"v1", "v2", "grpc-v1", "grpc-v2"}
YAMLLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def openapi_to_jsonschema(node, cel):
    out = {}
    for k, v in node.items():
        if k == "properties":
            out[k] = {name: openapi_to_jsonschema(sub, cel) for name, sub in v.items()}
        elif k in ("items", "not") or (k == "additionalProperties" and isinstance(v, dict)):
            out[k] = openapi_to_jsonschema(v, cel)
        elif k in ("anyOf", "allOf", "oneOf"):
            out[k] = [openapi_to_jsonschema(sub, cel) for sub in v]
        elif k == "x-kubernetes-validations":
            cel.append(v)
        elif k != "description":
            out[k] = v
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    if "properties" in node and "additionalProperties" not in node \
            and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


def k8s_list_type(validator, kind, instance, schema):
    if not validator.is_type(instance, "array"):
        return
    if kind == "set":
        for i, item in enumerate(instance):
            if item in instance[:i]:
                yield jsonschema.ValidationError(f"duplicate item {item!r} in a list of type set")
    elif kind == "map":
        keys = schema.get("x-kubernetes-list-map-keys", [])
        props = schema.get("items", {}).get("properties", {})
        seen = set()
        for item in instance:
            if isinstance(item, dict):
                key = tuple(json.dumps(item.get(k, props.get(k, {}).get("default"))) for k in keys)
                if key in seen:
                    yield jsonschema.ValidationError(f"duplicate entry {dict(zip(keys, key))} in a list of type map")
                seen.add(key)


CRDValidator = jsonschema.validators.extend(jsonschema.Draft7Validator, {"x-kubernetes-list-type": k8s_list_type})
crd_formats = jsonschema.FormatChecker()
crd_formats.checks("int32")(lambda v: not isinstance(v, int) or -2**31 <= v < 2**31)
crd_formats.checks("int64")(lambda v: not isinstance(v, int) or -2**63 <= v < 2**63)


def strip_refs(node):
    if isinstance(node, dict):
        return {} if "$ref" in node else {k: strip_refs(v) for k, v in node.items() if k not in ("$schema", "$id")}
    return [strip_refs(v) for v in node] if isinstance(node, list) else node


meta_path = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema",
                         f"v{K8S_VERSIONS[-1]}-local-strict", "objectmeta-meta-v1.json")
object_meta = strip_refs(json.load(open(meta_path)))
crd_validators = {}  # (apiVersion, kind) -> validator
for path, blob in KSERVE_CRDS.items():
    raw = open(path, "rb").read()
    check(hashlib.sha1(b"blob %d\0" % len(raw) + raw).hexdigest() == blob, f"{path} is KServe's file (git blob {blob[:12]})")
    crd = yaml.load(raw, Loader=YAMLLoader)
    for v in crd["spec"]["versions"]:
        if v.get("served"):
            cel = []
            schema = openapi_to_jsonschema(v["schema"]["openAPIV3Schema"], cel)
            check(not cel, f"{crd['spec']['names']['kind']} {v['name']}: no CEL rules left unchecked")
            schema["properties"]["metadata"] = object_meta
            schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
            CRDValidator.check_schema(schema)
            crd_validators[(f"{crd['spec']['group']}/{v['name']}", crd["spec"]["names"]["kind"])] = \
                CRDValidator(schema, format_checker=crd_formats)


def crd_errors(doc):
    v = crd_validators.get((doc.get("apiVersion"), doc.get("kind")))
    if v is None:
        return [f"no CRD serves {doc.get('kind')} {doc.get('apiVersion')}"]
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in sorted(v.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]


kdocs = {}
for path in sorted(glob.glob("docker/kserve/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        if doc:
            kdocs[doc["kind"]] = doc
            errs = crd_errors(doc)
            for e in errs[:20]:
                print(f"   {e}")
            check(not errs, f"{path} {doc['kind']} ({doc['apiVersion']}) valid against KServe's CRD schema (strict)")
check({"ClusterServingRuntime", "InferenceService"} <= set(kdocs), "kserve: a ClusterServingRuntime and an InferenceService")
rt, isvc = kdocs["ClusterServingRuntime"], kdocs["InferenceService"]


def rejected(what, mutate, doc, expect):
    """Negative control: the broken copy must fail, and for the intended reason."""
    bad = copy.deepcopy(doc)
    mutate(bad)
    errs = crd_errors(bad)
    check(any(expect in e for e in errs), f"negative control: {what} is rejected" + ("" if errs else " (it was accepted)"))


def rt_container(d):
    return d["spec"]["containers"][0]


rejected("a ClusterServingRuntime without containers", lambda d: d["spec"].pop("containers"), rt,
         "'containers' is a required property")
rejected("a misspelt container field (readinesProbe)",
         lambda d: rt_container(d).__setitem__("readinesProbe", rt_container(d).pop("readinessProbe")), rt,
         "Additional properties are not allowed ('readinesProbe' was unexpected)")
rejected("protocolVersions as a string, not a list", lambda d: d["spec"].__setitem__("protocolVersions", "v2"), rt,
         "spec/protocolVersions: 'v2' is not of type 'array'")
rejected("an unquoted port number in spec.annotations",
         lambda d: d["spec"]["annotations"].__setitem__("prometheus.kserve.io/port", 8080), rt,
         "8080 is not of type 'string'")
rejected("a memory quantity that is not one (1GB)",
         lambda d: rt_container(d)["resources"]["limits"].__setitem__("memory", "1GB"), rt, "does not match")
rejected("the same containerPort twice (list-type map, protocol defaulted)",
         lambda d: rt_container(d)["ports"].append({"containerPort": 8080, "name": "http"}), rt, "duplicate entry")
rejected("a port number out of int32 range",
         lambda d: rt_container(d)["ports"][0].__setitem__("containerPort", 2**31), rt, "is not a 'int32'")
rejected("an unknown metadata field", lambda d: d["metadata"].__setitem__("label", {}), rt,
         "('label' was unexpected)")
rejected("an InferenceService with a misspelt field (storageURI)",
         lambda d: d["spec"]["predictor"]["model"].__setitem__("storageURI", d["spec"]["predictor"]["model"].pop("storageUri")),
         isvc, "('storageURI' was unexpected)")
rejected("an InferenceService with minReplicas as a string",
         lambda d: d["spec"]["predictor"].__setitem__("minReplicas", "1"), isvc, "'1' is not of type 'integer'")
rejected("an InferenceService without a predictor", lambda d: d["spec"].pop("predictor"), isvc,
         "'predictor' is a required property")
rejected("a v1alpha1 InferenceService (not served)", lambda d: d.__setitem__("apiVersion", "serving.kserve.io/v1alpha1"),
         isvc, "no CRD serves")

# What the schemas cannot say: KServe's webhooks and controller, the image's entrypoint.
rs, c = rt["spec"], rt_container(rt)
pv = rs.get("protocolVersions", [])


def protocols_known(spec):  # KServe matches them against its constants; an unknown one never matches
    return bool(spec.get("protocolVersions")) and set(spec["protocolVersions"]) <= KSERVE_PROTOCOLS


check(protocols_known(rs) and pv == ["v2"], f"kserve: the runtime speaks OIP v2 only (protocolVersions {pv})")
check(not crd_errors({**rt, "spec": {**rs, "protocolVersions": ["v3"]}}) and not protocols_known({**rs, "protocolVersions": ["v3"]}),
      "negative control: protocolVersions [v3] passes the CRD schema (any string) but not this check")
formats = {f["name"]: f for f in rs["supportedModelFormats"]}
check({"fastvim", "vim"} <= set(formats) and all(formats[n].get("autoSelect") for n in ("fastvim", "vim")),
      "kserve: model formats fastvim and vim, autoSelect")
check(all(f.get("autoSelect") or "priority" not in f for f in formats.values()),
      "kserve: priority only with autoSelect (KServe's webhook)")
check(len(rs["containers"]) == 1 and c["name"] == "kserve-container", "kserve: one container, named kserve-container")
check(c["image"] == dep["spec"]["template"]["spec"]["containers"][0]["image"], "kserve: the same image as the Deployment")
check("command" not in c, "kserve: no command, so the image's entrypoint translates the arguments")
port = c["ports"][0]
check(len(c["ports"]) == 1 and port.get("name") == "h2c" and port.get("protocol", "TCP") == "TCP",
      "kserve: one container port, named h2c, TCP")
want_args = ["--model_name={{.Name}}", "--model_dir=/mnt/models", f"--http_port={port['containerPort']}"]
check(c.get("args") == want_args, f"kserve: args {want_args}")
ann = rs.get("annotations", {})
check(ann.get("prometheus.kserve.io/port") == str(port["containerPort"]) and ann.get("prometheus.kserve.io/path") == "/metrics"
      and ann.get("serving.kserve.io/enable-prometheus-scraping") == "true",
      "kserve: Prometheus annotations: the container's port, /metrics, scraping enabled")
check(c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
      and c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
      and all(c[p]["httpGet"]["port"] == port["containerPort"] for p in ("readinessProbe", "livenessProbe")),
      "kserve: readiness on /v2/health/ready, liveness on /v2/health/live, on the serving port (Knative requires it)")


res = c["resources"]
check(quantity(res["limits"]["memory"]) <= 2**30 and res["requests"]["cpu"] == res["limits"]["cpu"],
      f"kserve: memory limit {res['limits']['memory']} fits 1 GiB; CPU request = limit")
m = isvc["spec"]["predictor"]["model"]
check(m["runtime"] == rt["metadata"]["name"], f"kserve: the InferenceService runs on {rt['metadata']['name']}")
check(m["modelFormat"]["name"] in formats, f"kserve: its model format {m['modelFormat']['name']} is the runtime's")
check(m.get("protocolVersion", "v1") in pv, "kserve: its protocolVersion is one the runtime speaks (KServe's default is v1)")
check(re.match(r"^(pvc|s3|gs|https?|hdfs|webhdfs|oci)://", m.get("storageUri", "")) is not None,
      f"kserve: storageUri {m.get('storageUri')} has a scheme the storage initializer knows")
check(re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", isvc["metadata"]["name"]) is not None,
      "kserve: the InferenceService's name is a DNS-1035 label (KServe's rule; it is the model name)")
t = subprocess.run(["bash", "docker/kserve/test-entrypoint.sh"], capture_output=True, text=True)
if t.returncode:
    print(t.stdout + t.stderr)
check(t.returncode == 0, "kserve: docker/kserve/test-entrypoint.sh (the entrypoint translates the runtime's arguments)")

# --- Dockerfiles ----------------------------------------------------------------------------
for path in ["Dockerfile", "docker/Dockerfile.cuda"]:
    p = DockerfileParser(fileobj=open(path, "rb"))
    ins = [i["instruction"] for i in p.structure]
    check(ins.count("FROM") == 2, f"{path}: two stages")
    for needed in ["EXPOSE", "HEALTHCHECK", "STOPSIGNAL", "USER", "ENTRYPOINT", "CMD"]:
        check(needed in ins, f"{path}: {needed}")
    user = [i["value"] for i in p.structure if i["instruction"] == "USER"][-1]
    check(not re.match(r"^(0|root)(:|$)", user), f"{path}: USER {user} is not root")
    check("--static-swift-stdlib" in p.content, f"{path}: the Swift runtime is linked statically")

print(f"\n{'all checks passed' if failures == 0 else f'{failures} check(s) FAILED'}")
sys.exit(min(failures, 100))
