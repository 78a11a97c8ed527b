"""deploy/k8s validates against the Kubernetes schemas (offline) and agrees with the code.

Schemas: kubernetes-validate bundles the OpenAPI-derived JSON schemas of each Kubernetes release,
so validation needs no network (a fixture refuses any connection while it runs); strict mode
rejects unknown fields. Beyond the schemas: the NATS cluster (3 servers, routes to each of them,
JetStream on a volume, a config the real nats-server accepts), Qdrant in distributed mode,
autoscaled gateway and ingest with readiness probes, probes on the ports the services listen on,
env names the services read, and addresses that name real Services and ports.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.ops.identity.adapters.nats_users import NatsAuth, password_variable
from tests.deploy.conftest import (
    APP_ENV_PREFIXES,
    BIND_ALL,
    REPO_ROOT,
    REQUIRED_SECRETS,
    ServiceSettings,
    dockerfile_env,
    endpoints,
    is_loopback,
    module_exists,
    module_of_command,
    nats_config_check,
    nats_size,
)
from trolyao.messaging import MAX_MESSAGE_BYTES
from trolyao.natsaccess import OPERATOR, SERVICE_IDENTITIES

# kubernetes-validate bundles the JSON schemas of each Kubernetes release (a dev dependency).
VALIDATOR = "kubernetes_validate"
kubernetes_validate: Any = importlib.import_module(VALIDATOR) if importlib.util.find_spec(VALIDATOR) else None

needs_validator = pytest.mark.skipif(
    kubernetes_validate is None, reason="kubernetes-validate (a dev dependency) is not installed"
)

K8S_DIR = REPO_ROOT / "deploy" / "k8s"
# Oldest and newest Kubernetes releases the manifests are checked against (gRPC probes need 1.27+).
KUBERNETES_VERSIONS = ("1.30", "1.37")
PLACEHOLDER = "REPLACE_ME"

# Settings the manifests already set for the step to a cluster, which the code does not read yet.
# Each entry says what the app must add; remove it once the setting exists (the tests then check
# the name against the settings class like every other).
PENDING_APP_SETTINGS: dict[str, str] = {}

Manifest = dict[str, Any]
Manifests = list[tuple[str, Manifest]]  # (file, object) in kustomization order
Workloads = dict[str, tuple[Manifest, Manifest, ServiceSettings]]  # Deployment -> (it, container, settings)


# --------------------------------------------------------------------------- loading


@pytest.fixture(scope="module")
def kustomization() -> Manifest:
    loaded = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict) and loaded["kind"] == "Kustomization"
    return loaded


@pytest.fixture(scope="module")
def manifests(kustomization: Manifest) -> Manifests:
    """(file, object) for every object of every file the kustomization lists."""
    found: Manifests = []
    for resource in kustomization["resources"]:
        path = K8S_DIR / resource
        assert path.is_file(), f"kustomization lists {resource}, which does not exist"
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                found.append((resource, document))
    return found


def objects(manifests: Manifests, kind: str) -> dict[str, Manifest]:
    return {obj["metadata"]["name"]: obj for _file, obj in manifests if obj["kind"] == kind}


def one(manifests: Manifests, kind: str, name: str) -> Manifest:
    found = objects(manifests, kind)
    assert name in found, f"no {kind} {name!r} in deploy/k8s (found {sorted(found)})"
    return found[name]


def containers(workload: Manifest) -> list[Manifest]:
    return list(workload["spec"]["template"]["spec"]["containers"])


def env_of(container: Manifest, manifests: Manifests) -> dict[str, str]:
    """The container's environment: envFrom ConfigMaps/Secrets, then env (valueFrom as placeholders)."""
    config_maps, secrets = objects(manifests, "ConfigMap"), objects(manifests, "Secret")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]]["data"])
        if "secretRef" in source:
            secret = secrets[source["secretRef"]["name"]]
            env.update({**secret.get("stringData", {}), **secret.get("data", {})})
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = str(variable["value"])
        else:
            reference = variable["valueFrom"].get("secretKeyRef") or variable["valueFrom"].get(
                "configMapKeyRef"
            )
            if reference is not None:
                holder = secrets if "secretKeyRef" in variable["valueFrom"] else config_maps
                assert reference["name"] in holder, (
                    f"{variable['name']} refers to missing {reference['name']}"
                )
                values = holder[reference["name"]]
                assert reference["key"] in {**values.get("data", {}), **values.get("stringData", {})}, (
                    f"{variable['name']} refers to missing key {reference['key']} of {reference['name']}"
                )
            env[variable["name"]] = "from-reference"
    return env


@pytest.fixture(scope="module")
def trolyao_workloads(manifests: Manifests, services: dict[str, ServiceSettings]) -> Workloads:
    """Deployment name -> (deployment, container, settings) for containers running `python -m services.x`."""
    found: Workloads = {}
    for name, deployment in objects(manifests, "Deployment").items():
        for container in containers(deployment):
            module = module_of_command(container.get("command", []) + container.get("args", []))
            if module is None:
                continue
            assert module_exists(module), f"{name}: {module} has no __main__.py"
            assert module in services, f"{name}: {module} is not a service"
            found[name] = (deployment, container, services[module])
    return found


def probe_port(probe: Manifest, container: Manifest) -> int:
    """The container port a probe reaches (a number, or a named container port)."""
    handler = probe.get("httpGet") or probe.get("grpc") or probe.get("tcpSocket")
    assert handler is not None, f"unexpected probe {probe}"
    port = handler["port"]
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}
    assert port in named, f"probe port {port!r} is not a named port of {container['name']}"
    return int(named[port])


def selected(selector: dict[str, str], workload: Manifest) -> bool:
    labels = workload["spec"]["template"]["metadata"].get("labels", {})
    return all(labels.get(key) == value for key, value in selector.items())


# --------------------------------------------------------------------------- schemas


def test_kustomization_lists_every_manifest(kustomization: Manifest) -> None:
    on_disk = {path.name for path in K8S_DIR.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == on_disk


@needs_validator
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.usefixtures("no_network")
def test_every_manifest_validates_against_the_kubernetes_schema(manifests: Manifests, version: str) -> None:
    problems: list[str] = []
    for file, obj in manifests:
        label = f"{file}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            problems.append(f"{label}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.append(f"{label}: {error.message}")
    assert not problems, "\n".join(problems)


@needs_validator
@pytest.mark.usefixtures("no_network")
def test_the_validator_rejects_a_broken_manifest(trolyao_workloads: dict[str, Any]) -> None:
    """The schema check has teeth: an unknown field and a wrong type are refused."""
    deployment = yaml.safe_load(yaml.safe_dump(next(iter(trolyao_workloads.values()))[0]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)
    deployment = yaml.safe_load(yaml.safe_dump(next(iter(trolyao_workloads.values()))[0]))
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[-1], strict=True)


# --------------------------------------------------------------------------- trolyao services


def test_every_service_has_a_deployment(
    trolyao_workloads: Workloads, services: dict[str, ServiceSettings]
) -> None:
    run = {settings.module for _d, _c, settings in trolyao_workloads.values()}
    assert run == set(services), f"services without a Deployment: {sorted(set(services) - run)}"


def test_images_are_the_one_trolyao_image(trolyao_workloads: Workloads, kustomization: Manifest) -> None:
    images = {container["image"] for _d, container, _s in trolyao_workloads.values()}
    assert len(images) == 1
    assert images <= {image["name"] for image in kustomization.get("images", [])}, (
        "set the image in kustomization"
    )


def test_env_names_are_read_by_the_service(trolyao_workloads: Workloads, manifests: Manifests) -> None:
    for name, (_deployment, container, settings) in trolyao_workloads.items():
        unknown = sorted(
            env_name
            for env_name in env_of(container, manifests)
            if env_name.upper().startswith(APP_ENV_PREFIXES)
            and env_name.upper() not in settings.env_names
            and env_name not in PENDING_APP_SETTINGS
        )
        assert not unknown, f"{name} ({settings.cls.__name__}) reads none of {unknown}"


def loaded_settings(container: Manifest, manifests: Manifests, settings: ServiceSettings) -> Any:
    return settings.load({**dockerfile_env(), **env_of(container, manifests)})


def test_environment_validates_and_never_points_at_loopback(
    trolyao_workloads: Workloads, manifests: Manifests
) -> None:
    for name, (_deployment, container, settings) in trolyao_workloads.items():
        loaded = loaded_settings(container, manifests, settings)
        for field, value in loaded.model_dump().items():
            for host, _port in endpoints(value) if isinstance(value, str) else []:
                assert not is_loopback(host), f"{name}: {field}={value!r} points at the pod itself"
        bind = settings.listen_host(loaded)
        if bind is not None:
            assert bind in BIND_ALL, f"{name} listens on {bind!r}: other pods cannot reach it"


def test_probes_reach_the_listening_port(trolyao_workloads: Workloads, manifests: Manifests) -> None:
    for name, (_deployment, container, settings) in trolyao_workloads.items():
        port = settings.listen_port(loaded_settings(container, manifests, settings))
        readiness = container.get("readinessProbe")
        assert readiness, f"{name} has no readiness probe"
        if port is None:
            assert "exec" in readiness, f"{name} listens on no port: its readiness probe must be a command"
            script = readiness["exec"]["command"]
            if script[:2] == ["python", "-c"]:
                compile(script[2], f"<{name} readiness>", "exec")
            continue
        assert container["ports"][0]["containerPort"] == port
        for kind in ("readinessProbe", "livenessProbe"):
            probe = container.get(kind)
            assert probe, f"{name} needs a {kind}"
            assert probe_port(probe, container) == port, f"{name}'s {kind} does not reach port {port}"
            if settings.service == "gateway":
                expected = "/readyz" if kind == "readinessProbe" else "/healthz"
                assert probe["httpGet"]["path"] == expected, f"gateway {kind} should ask {expected}"
            else:
                assert "grpc" in probe, f"{name} serves grpc.health.v1: its {kind} should be a grpc probe"


def test_addresses_name_services_on_the_right_ports(
    trolyao_workloads: Workloads,
    manifests: Manifests,
) -> None:
    k8s_services = objects(manifests, "Service")
    workloads = {**objects(manifests, "Deployment"), **objects(manifests, "StatefulSet")}
    for name, (_deployment, container, _settings) in trolyao_workloads.items():
        for env_name, value in env_of(container, manifests).items():
            for host, port in endpoints(value):
                if host in BIND_ALL:
                    continue
                service_name = (
                    host.split(".")[-1] if host.split(".")[0] not in k8s_services else host.split(".")[0]
                )
                assert service_name in k8s_services, f"{name}: {env_name}={value!r} names no Service ({host})"
                service = k8s_services[service_name]
                ports = {p["port"]: p.get("targetPort", p["port"]) for p in service["spec"]["ports"]}
                assert port in ports, (
                    f"{name}: {env_name}={value!r}; Service {service_name} serves {sorted(ports)}"
                )
                targets = [w for w in workloads.values() if selected(service["spec"]["selector"], w)]
                assert targets, f"Service {service_name} selects no workload"
                target_port = ports[port]
                for workload in targets:
                    workload_name = workload["metadata"]["name"]
                    declared = {
                        p.get("name"): p["containerPort"]
                        for c in containers(workload)
                        for p in c.get("ports", [])
                    }
                    assert target_port in declared or target_port in declared.values(), (
                        f"Service {service_name} targets {target_port}, not a port of {workload_name}"
                    )


def test_gateway_and_ingest_autoscale(trolyao_workloads: Workloads, manifests: Manifests) -> None:
    autoscalers = objects(manifests, "HorizontalPodAutoscaler")
    scaled = {hpa["spec"]["scaleTargetRef"]["name"]: hpa for hpa in autoscalers.values()}
    for name, (deployment, container, settings) in trolyao_workloads.items():
        if settings.service not in ("gateway", "ingest"):
            continue
        assert name in scaled, f"{name} needs a HorizontalPodAutoscaler"
        hpa = scaled[name]
        assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
        assert hpa["spec"]["minReplicas"] >= 2 and hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"]
        assert container.get("resources", {}).get("requests", {}).get("cpu"), (
            "CPU autoscaling needs CPU requests"
        )
        assert deployment["spec"].get("replicas", 1) >= 2


def test_required_secrets_are_given(trolyao_workloads: Workloads, manifests: Manifests) -> None:
    for name, (_deployment, container, settings) in trolyao_workloads.items():
        env = env_of(container, manifests)
        for secret in REQUIRED_SECRETS.get(settings.service, ()):
            if secret in settings.env_names:
                assert secret in env, f"{name} needs {secret} (from trolyao-secrets)"


def test_retrieval_uses_the_qdrant_cluster(trolyao_workloads: Workloads, manifests: Manifests) -> None:
    for name, (_deployment, container, settings) in trolyao_workloads.items():
        if settings.service == "retrieval":
            env = env_of(container, manifests)
            assert [host for host, _ in endpoints(env["QDRANT_URL"])] == ["qdrant"], name
            assert "QDRANT_API_KEY" in env


def test_retrieval_runs_replicas_sharing_the_registry_in_nats(
    trolyao_workloads: Workloads, manifests: Manifests
) -> None:
    """With the Qdrant cluster the registry is the NATS KV bucket, so retrieval runs two replicas or
    more (rolled one at a time, spread over nodes), a PDB keeps one serving, and no pod keeps a
    volume the others would need."""
    budgets = objects(manifests, "PodDisruptionBudget").values()
    found = False
    for name, (deployment, container, settings) in trolyao_workloads.items():
        if settings.service != "retrieval":
            continue
        found = True
        env = env_of(container, manifests)
        assert env.get("TROLYAO_RETRIEVAL_REGISTRY", "auto") in ("auto", "nats") and env.get("QDRANT_URL")
        assert env.get("TROLYAO_NATS_USER") == "retrieval", "the registry needs retrieval's NATS identity"
        spec = deployment["spec"]
        assert spec.get("replicas", 1) >= 2, f"{name} needs two replicas or more"
        assert (
            spec["strategy"]["type"] == "RollingUpdate"
            and spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        )
        pod = spec["template"]["spec"]
        assert all("persistentVolumeClaim" not in volume for volume in pod["volumes"]), (
            "retrieval replicas keep no state of their own: no PVC"
        )
        anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        assert anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
        labels = spec["template"]["metadata"]["labels"]
        matching = [
            b
            for b in budgets
            if all(labels.get(k) == v for k, v in b["spec"]["selector"]["matchLabels"].items())
        ]
        assert matching and matching[0]["spec"].get("minAvailable") == 1, (
            f"{name} needs a PDB (minAvailable 1)"
        )
    assert found


def test_units_config_map_is_config_units_yaml(manifests: Manifests) -> None:
    units = one(manifests, "ConfigMap", "trolyao-units")
    assert units["data"]["units.yaml"] == (REPO_ROOT / "config" / "units.yaml").read_text(encoding="utf-8"), (
        "deploy/k8s/units-configmap.yaml differs from config/units.yaml: copy the file into it"
    )
    ops = [c for _d, c, s in trolyao_workloads_of(manifests) if s == "ops"]
    for container in ops:
        units_file = env_of(container, manifests)["TROLYAO_OPS_UNITS_FILE"]
        mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
        assert any(units_file.startswith(path.rstrip("/") + "/") for path in mounts.values())


def trolyao_workloads_of(manifests: Manifests) -> list[tuple[Manifest, Manifest, str]]:
    return [
        (deployment, container, module.split(".")[-1])
        for deployment in objects(manifests, "Deployment").values()
        for container in containers(deployment)
        if (module := module_of_command(container.get("command", []))) is not None
    ]


def test_secrets_are_placeholders(manifests: Manifests) -> None:
    for _file, secret in manifests:
        if secret["kind"] == "Secret":
            assert "data" not in secret, "commit placeholders in stringData, never encoded values"
            for key, value in secret.get("stringData", {}).items():
                assert value == PLACEHOLDER, f"secret {key} must stay a placeholder in the repository"


# --------------------------------------------------------------------------- NATS cluster


@pytest.fixture(scope="module")
def nats(manifests: Manifests) -> tuple[Manifest, Manifest, str]:
    """(statefulset, container, nats.conf) of the NATS cluster."""
    statefulset = one(manifests, "StatefulSet", "nats")
    container = containers(statefulset)[0]
    command = container.get("command", []) + container.get("args", [])
    config_path = Path(command[command.index("--config") + 1])
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volume_name = mounts[str(config_path.parent)]
    return statefulset, container, nats_config_files(statefulset, manifests, volume_name)[config_path.name]


def nats_config_files(statefulset: Manifest, manifests: Manifests, volume_name: str) -> dict[str, str]:
    """file name -> text of every file in the config volume (a ConfigMap, or several projected)."""
    volume = next(v for v in statefulset["spec"]["template"]["spec"]["volumes"] if v["name"] == volume_name)
    sources = [source["configMap"] for source in volume.get("projected", {}).get("sources", [])]
    names = [volume["configMap"]["name"]] if "configMap" in volume else [source["name"] for source in sources]
    files: dict[str, str] = {}
    for name in names:
        files.update(one(manifests, "ConfigMap", name)["data"])
    return files


def test_nats_requires_the_users_of_the_code(
    nats: tuple[Manifest, Manifest, str], manifests: Manifests, trolyao_workloads: Workloads, tmp_path: Path
) -> None:
    """Every client authenticates with its own identity; the users file is the code's (no drift)
    and the one compose mounts; the servers read each service's password from its secret."""
    statefulset, container, config = nats
    assert re.search(r"^\s*include\s+\./auth\.conf\s*$", config, re.M), "nats must include its users file"
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    users_file = nats_config_files(statefulset, manifests, mounts["/etc/nats"])["auth.conf"]
    expected = NatsAuth(REPO_ROOT / "deploy" / "nats", passwords_from_environment=True).authorization_config()
    assert users_file == expected == (REPO_ROOT / "deploy" / "nats" / "auth.conf").read_text(encoding="utf-8")
    nats_env = env_of(container, manifests)
    for identity in (*SERVICE_IDENTITIES, OPERATOR):
        assert nats_env.get(password_variable(identity)) == "from-reference"
    for name, (_workload, service_container, _settings) in trolyao_workloads.items():
        env = env_of(service_container, manifests)
        assert env.get("TROLYAO_SERVICE_TOKEN") == "from-reference", f"{name} needs the service token"
        if name in SERVICE_IDENTITIES:
            assert env.get("TROLYAO_NATS_USER") == name
            password = next(v for v in service_container["env"] if v["name"] == "TROLYAO_NATS_PASSWORD")
            assert password["valueFrom"]["secretKeyRef"]["key"] == password_variable(name)
    env = {"POD_NAME": "nats-0"} | {password_variable(i): "x" for i in (*SERVICE_IDENTITIES, OPERATOR)}
    problem = nats_config_check(config, tmp_path, env, {"auth.conf": users_file})
    assert not problem, problem


def test_nats_is_a_three_server_cluster_with_routes_to_each(
    nats: tuple[Manifest, Manifest, str], manifests: Manifests
) -> None:
    statefulset, _container, config = nats
    replicas = statefulset["spec"]["replicas"]
    assert replicas == 3
    headless = one(manifests, "Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"].get("publishNotReadyAddresses")
    cluster = re.search(r"cluster\s*\{(.*?)\n\}", config, re.S)
    assert cluster, "nats.conf needs a cluster block"
    cluster_port = int(re.search(r"listen:\s*\S*?:(\d+)", cluster.group(1)).group(1))  # type: ignore[union-attr]
    routes = set(re.findall(r"nats://([^\s,\]]+)", cluster.group(1)))
    name, service = statefulset["metadata"]["name"], headless["metadata"]["name"]
    assert routes == {f"{name}-{index}.{service}:{cluster_port}" for index in range(replicas)}
    assert re.search(r"server_name:\s*\$POD_NAME", config), "each server needs a stable, unique name"


def test_nats_runs_jetstream_on_persistent_volumes(
    nats: tuple[Manifest, Manifest, str], tmp_path: Path
) -> None:
    statefulset, container, config = nats
    store = re.search(r"jetstream\s*\{[^}]*store_dir:\s*\"?([^\s\"]+)", config, re.S)
    assert store, "JetStream with a file store_dir must be enabled"
    claims = {claim["metadata"]["name"] for claim in statefulset["spec"]["volumeClaimTemplates"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts.get(store.group(1).rstrip("/")) in claims, "the JetStream store must be on a PVC"
    max_payload = nats_size(config, "max_payload")
    assert max_payload is not None and max_payload >= MAX_MESSAGE_BYTES
    passwords = {password_variable(identity): "x" for identity in (*SERVICE_IDENTITIES, OPERATOR)}
    includes = {"auth.conf": (REPO_ROOT / "deploy" / "nats" / "auth.conf").read_text(encoding="utf-8")}
    problem = nats_config_check(config, tmp_path, {"POD_NAME": "nats-0", **passwords}, includes)
    assert not problem, problem


def test_jetstream_replication_matches_the_cluster(
    nats: tuple[Manifest, Manifest, str], manifests: Manifests
) -> None:
    replicas = int(one(manifests, "ConfigMap", "trolyao-config")["data"]["TROLYAO_JETSTREAM_REPLICAS"])
    assert replicas == 3 <= nats[0]["spec"]["replicas"]


# --------------------------------------------------------------------------- Qdrant cluster


def test_qdrant_runs_in_distributed_mode(manifests: Manifests) -> None:
    statefulset = one(manifests, "StatefulSet", "qdrant")
    assert statefulset["spec"]["replicas"] == 3
    container = containers(statefulset)[0]
    env = {variable["name"]: variable.get("value") for variable in container["env"]}
    assert env["QDRANT__CLUSTER__ENABLED"] == "true"
    p2p = int(env.get("QDRANT__CLUSTER__P2P__PORT") or 6335)
    assert p2p in {port["containerPort"] for port in container["ports"]}
    headless = one(manifests, "Service", statefulset["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"].get("publishNotReadyAddresses")
    assert p2p in {port["port"] for port in headless["spec"]["ports"]}
    replication = int(env["QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR"])
    assert replication == 2 and replication <= statefulset["spec"]["replicas"]
    assert "QDRANT__SERVICE__API_KEY" in env
    init = one(manifests, "ConfigMap", "qdrant-config")["data"]["initialize.sh"]
    assert f"{headless['metadata']['name']}:{p2p}" in init and "--bootstrap" in init and "--uri" in init
    claims = {claim["metadata"]["name"] for claim in statefulset["spec"]["volumeClaimTemplates"]}
    assert any(m["name"] in claims and m["mountPath"] == "/qdrant/storage" for m in container["volumeMounts"])
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_stateful_clusters_keep_a_quorum_through_disruptions(manifests: Manifests) -> None:
    budgets = objects(manifests, "PodDisruptionBudget").values()
    for name in ("nats", "qdrant"):
        labels = one(manifests, "StatefulSet", name)["spec"]["template"]["metadata"]["labels"]
        matching = [
            b
            for b in budgets
            if all(labels.get(k) == v for k, v in b["spec"]["selector"]["matchLabels"].items())
        ]
        assert matching and matching[0]["spec"].get("maxUnavailable") == 1, (
            f"{name} needs a PDB (maxUnavailable 1)"
        )
