"""The deployment files agree with the code, the settings, the lock and the Kubernetes schemas.

Dockerfile parsed with dockerfile-parse; Kubernetes manifests validated offline against the
schemas kubernetes-validate ships (strict: no unknown fields); the lock files checked against
pyproject.toml.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from dockerfile_parse import DockerfileParser
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from support_tools.observability import metrics
from support_tools.settings import DEFAULT_MAX_SESSIONS, load_settings

from .conftest import ROOT

K8S = ROOT / "deploy" / "kubernetes"
# Secret settings: never in the image, a ConfigMap or the LiveKit config; only in the Secret.
SECRET_SETTINGS = {
    "AZURE_OPENAI_API_KEY", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET", "DATABASE_URL",
    "ESCALATION_WEBHOOK_URL", "ESCALATION_WEBHOOK_SECRET",
}
# bench/bench_room_capacity.py on the 2-core machine: an idle `start` worker's private memory,
# and what each call adds (its job process), and the CPU share of a core a call takes.
MEASURED_IDLE_WORKER_MB = 200
MEASURED_MB_PER_CALL = 70
MEASURED_CORES_PER_CALL = 0.09


# --- the image -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile() -> DockerfileParser:
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    return parser


def instructions(dockerfile: DockerfileParser, name: str) -> list[dict]:
    return [i for i in dockerfile.structure if i["instruction"] == name]


def test_image_is_slim_python_311_running_the_worker_as_non_root(dockerfile) -> None:
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", dockerfile.baseimage)
    users = instructions(dockerfile, "USER")
    assert users and users[-1]["value"] not in ("root", "0")
    cmd = instructions(dockerfile, "CMD")[-1]
    assert users[-1]["startline"] < cmd["startline"]
    assert json.loads(cmd["value"]) == ["python", "agent.py", "start"]
    exposed = " ".join(i["value"] for i in instructions(dockerfile, "EXPOSE")).split()
    assert "8081" in exposed and dockerfile.envs["SHOPME_HEALTH_PORT"] == "8081"
    assert dockerfile.envs["SHOPME_METRICS_PORT"] in exposed


def test_no_secret_is_baked_into_the_image(dockerfile) -> None:
    declared = set(dockerfile.envs) | set(dockerfile.args)
    assert declared & SECRET_SETTINGS == set()
    assert not any(re.search(r"KEY|SECRET|PASSWORD|TOKEN", name) for name in declared)
    copied = " ".join(i["value"] for i in instructions(dockerfile, "COPY") + instructions(dockerfile, "ADD"))
    assert ".env" not in copied.split() and "shopme.db" not in copied


def test_dependencies_install_from_the_lock_in_their_own_layer_before_the_code(dockerfile) -> None:
    lines = [(i["instruction"], i["value"]) for i in dockerfile.structure]
    lock_copy = lines.index(("COPY", "requirements.lock ./"))
    install = next(n for n, (op, value) in enumerate(lines) if op == "RUN" and "-r requirements.lock" in value)
    code_copies = [n for n, (op, value) in enumerate(lines) if op == "COPY" and "support_tools" in value]
    assert lock_copy < install < min(code_copies)
    assert "--no-deps" in lines[install][1]  # exactly the pinned set, nothing resolved at build time


def test_dockerignore_keeps_local_files_out_and_lets_the_copied_ones_in(dockerfile) -> None:
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"  # everything is out unless named
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for secret_or_local in (".env", ".venv", ".git", "shopme.db", "tests"):
        assert secret_or_local not in allowed
    for copy in instructions(dockerfile, "COPY"):
        for source in copy["value"].split()[:-1]:
            assert source.rstrip("/") in allowed, source


# --- the lock ------------------------------------------------------------------------------------


def pinned(lock: str) -> dict[str, str]:
    text = (ROOT / lock).read_text()
    return {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", text, re.M)
    }


def declared(extra: str | None = None) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    return [Requirement(r) for r in names]


@pytest.mark.parametrize(("lock", "extras"), [("requirements.lock", []), ("requirements-dev.lock", ["dev"])])
def test_the_lock_pins_every_dependency_of_pyproject_within_its_range(lock, extras) -> None:
    """Fails after a dependency is added or changed in pyproject.toml: run `make lock`."""
    versions = pinned(lock)
    for requirement in declared() + [r for extra in extras for r in declared(extra)]:
        name = canonicalize_name(requirement.name)
        assert name in versions, f"{name} is not in {lock}: run `make lock`"
        assert requirement.specifier.contains(versions[name], prereleases=True), (name, versions[name])


def test_image_and_development_run_the_same_versions() -> None:
    runtime, development = pinned("requirements.lock"), pinned("requirements-dev.lock")
    assert {name: development.get(name) for name in runtime} == runtime


# --- Kubernetes ----------------------------------------------------------------------------------


def manifests() -> dict[str, dict]:
    found = {}
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found[f"{document['kind']}/{document['metadata']['name']}"] = document
    return found


@pytest.mark.parametrize("path", sorted(K8S.glob("*.yaml")), ids=lambda p: p.name)
def test_manifest_is_valid_against_the_kubernetes_schemas(path: Path) -> None:
    version = kubernetes_validate.latest_version()
    for document in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(document, version, strict=True)


@pytest.fixture(scope="module")
def k8s() -> dict[str, dict]:
    return manifests()


def worker_container(k8s) -> dict:
    [container] = k8s["Deployment/shopme-worker"]["spec"]["template"]["spec"]["containers"]
    return container


def test_workers_read_settings_from_the_configmap_and_secrets_from_the_secret(k8s) -> None:
    container = worker_container(k8s)
    sources = {next(iter(s)): s[next(iter(s))]["name"] for s in container["envFrom"]}
    config = k8s[f"ConfigMap/{sources['configMapRef']}"]["data"]
    secret = k8s[f"Secret/{sources['secretRef']}"]["stringData"]
    assert set(config) & SECRET_SETTINGS == set()
    assert SECRET_SETTINGS <= set(secret)
    assert "env" not in container  # nothing set inline, beside the two
    assert secret["DATABASE_URL"].startswith("postgresql+asyncpg://")  # one store for all workers
    # together they are a configuration the worker accepts
    settings = load_settings({**config, **secret}, need_livekit=True)
    assert settings.worker.metrics_port and settings.worker.health_port


def test_drain_fits_in_the_grace_period_and_probes_use_the_health_port(k8s) -> None:
    pod = k8s["Deployment/shopme-worker"]["spec"]["template"]["spec"]
    config = k8s["ConfigMap/shopme-worker"]["data"]
    assert pod["terminationGracePeriodSeconds"] >= int(config["SHOPME_DRAIN_TIMEOUT_S"])
    container = worker_container(k8s)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["health"] == int(config["SHOPME_HEALTH_PORT"])
    assert ports["metrics"] == int(config["SHOPME_METRICS_PORT"])
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in ("health", ports["health"])
    assert pod["securityContext"]["runAsNonRoot"] is True
    annotations = k8s["Deployment/shopme-worker"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == config["SHOPME_METRICS_PORT"]


def test_resources_cover_a_full_worker_at_the_measured_cost_per_call(k8s) -> None:
    calls = int(k8s["ConfigMap/shopme-worker"]["data"]["SHOPME_MAX_SESSIONS"])
    resources = worker_container(k8s)["resources"]
    requested_mb = int(resources["requests"]["memory"].removesuffix("Gi")) * 1024
    assert requested_mb >= MEASURED_IDLE_WORKER_MB + calls * MEASURED_MB_PER_CALL
    requested_cores = int(resources["requests"]["cpu"].removesuffix("m")) / 1000
    assert requested_cores >= calls * MEASURED_CORES_PER_CALL
    assert calls == DEFAULT_MAX_SESSIONS  # the cluster runs the measured default


def test_autoscaler_and_budget_target_the_workers_on_active_sessions(k8s) -> None:
    labels = k8s["Deployment/shopme-worker"]["spec"]["template"]["metadata"]["labels"]
    budget = k8s["PodDisruptionBudget/shopme-worker"]["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    hpa = k8s["HorizontalPodAutoscaler/shopme-worker"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "shopme-worker"
    [metric] = hpa["metrics"]
    assert metric["pods"]["metric"]["name"] == metrics.SESSIONS_ACTIVE._name
    capacity = int(k8s["ConfigMap/shopme-worker"]["data"]["SHOPME_MAX_SESSIONS"])
    assert 0 < float(metric["pods"]["target"]["averageValue"]) < capacity
    adapter = yaml.safe_load(k8s["ConfigMap/prometheus-adapter-shopme"]["data"]["config.yaml"])
    assert any(metrics.SESSIONS_ACTIVE._name in rule["seriesQuery"] for rule in adapter["rules"])


# --- LiveKit -------------------------------------------------------------------------------------


def test_multi_node_livekit_config_shares_redis_and_opens_media_and_turn() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "livekit" / "livekit.yaml").read_text())
    assert config["redis"]["address"]
    rtc = config["rtc"]
    assert ("port_range_start" in rtc and rtc["port_range_end"] > rtc["port_range_start"]) or "udp_port" in rtc
    assert config["turn"]["enabled"] is True and config["turn"]["domain"]
    assert config["webhook"]["urls"] and config["webhook"]["api_key"]
    assert "keys" not in config and "key_file" not in config  # keys come from the environment
