"""Schema and consistency checks for docker/compose.yaml, docker/k8s/*.yaml, the Grafana
dashboard, the Prometheus config and both Dockerfiles. Run through docker/validate-manifests.sh.
Each check prints `ok` or `FAIL`; the exit status is the number of failures (0: all passed).
Negative controls (a broken copy of each manifest must be rejected) prove the validators bite."""
import copy
import glob
import importlib.metadata
import json
import re
import sys

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
docs = {}
for path in sorted(glob.glob("docker/k8s/*.yaml")):
    for doc in yaml.safe_load_all(open(path)):
        if doc:
            docs[doc["kind"]] = doc
            for v in K8S_VERSIONS:
                try:
                    kubernetes_validate.validate(doc, v, strict=True)
                    check(True, f"{path} {doc['kind']} ({doc['apiVersion']}) valid for Kubernetes {v} (strict)")
                except Exception as e:  # ValidationError, SchemaNotFoundError
                    check(False, f"{path} {doc['kind']} for Kubernetes {v}: {getattr(e, 'message', e)}")
check({"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= set(docs),
      "k8s: Deployment, Service, HorizontalPodAutoscaler, PodDisruptionBudget")
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
ref = docs["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
check(ref["kind"] == "Deployment" and ref["name"] == dep["metadata"]["name"], "k8s: the HPA scales the Deployment")
check(any(m["type"] == "Resource" and m["resource"]["name"] == "cpu"
          for m in docs["HorizontalPodAutoscaler"]["spec"]["metrics"]), "k8s: the HPA scales on CPU")

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
