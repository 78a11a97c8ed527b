"""docker-compose.yml and the image it builds agree with the code (Docker cannot run here).

For every trolyao service: the command runs a real `services/<svc>/__main__.py`, every TROLYAO_* /
QDRANT_* name is one its settings class reads, the environment validates against that class, no
address points at the container's own loopback, every address names a compose service and the
port that service listens on, published ports and health checks use the listening port. Across
the file: dependencies exist and wait on real health checks, secrets are `${VAR:?...}`, mounted
config files exist and parse, the NATS config passes nats-server's own check, the collector's
pipelines and Prometheus' targets are wired to services that exist.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.ops.identity.adapters.nats_users import NatsAuth, password_variable
from tests.deploy.conftest import (
    APP_ENV_PREFIXES,
    BIND_ALL,
    DOCKERFILE,
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
    setting_was_read,
)
from trolyao.messaging import MAX_MESSAGE_BYTES
from trolyao.natsaccess import OPERATOR, SERVICE_IDENTITIES

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
SECRET_NAME = re.compile(r"(KEY|KEYS|SECRET|PASSWORD|TOKEN)$")
REQUIRED_VARIABLE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:\?[^}]+\}$")
INTERPOLATION = re.compile(
    r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)"
)
PLACEHOLDER_SECRET = "test-secret-value"

Services = dict[str, dict[str, Any]]  # compose service name -> its definition
Trolyao = dict[str, tuple[dict[str, Any], ServiceSettings]]  # ... built from deploy/Dockerfile


# --------------------------------------------------------------------------- loading


def interpolate(value: str) -> str:
    """Compose interpolation with an empty shell: defaults apply, required variables get a value."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        operator, argument = match.group(2), match.group(3)
        if operator in (":-", "-"):
            return argument or ""
        if operator in (":?", "?"):
            return PLACEHOLDER_SECRET
        return ""

    return INTERPOLATION.sub(replace, value)


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    """The service's `environment` (map or list form), raw (before interpolation)."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {str(name): "" if value is None else str(value) for name, value in raw.items()}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict) and loaded.get("services"), "docker-compose.yml has no services"
    return loaded


@pytest.fixture(scope="module")
def compose_services(compose: dict[str, Any]) -> Services:
    found: Services = compose["services"]
    return found


def builds_trolyao(service: dict[str, Any]) -> bool:
    build = service.get("build")
    if not isinstance(build, dict):
        return False
    return Path(build.get("context", "."), build.get("dockerfile", "Dockerfile")) == Path("deploy/Dockerfile")


@pytest.fixture(scope="module")
def trolyao_services(compose_services: Services, services: dict[str, ServiceSettings]) -> Trolyao:
    """Compose services built from deploy/Dockerfile, with the settings of the module each runs."""
    found: Trolyao = {}
    for name, service in compose_services.items():
        if not builds_trolyao(service):
            continue
        module = module_of_command(service.get("command"))
        assert module is not None, f"{name}: command {service.get('command')!r} is not `python -m <module>`"
        assert module_exists(module), f"{name}: {module} has no {module.replace('.', '/')}/__main__.py"
        assert module in services, f"{name}: {module} is not one of the services {sorted(services)}"
        found[name] = (service, services[module])
    return found


def effective_env(service: dict[str, Any]) -> dict[str, str]:
    """The environment a container of this service starts with: image ENV, then compose's."""
    return {
        **dockerfile_env(),
        **{name: interpolate(value) for name, value in environment_of(service).items()},
    }


def listening_port(name: str, trolyao: Trolyao) -> int | None:
    service, settings = trolyao[name]
    return settings.listen_port(settings.load(effective_env(service)))


def container_ports(service: dict[str, Any]) -> list[int]:
    ports: list[int] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.append(int(entry["target"]))
        else:
            target = interpolate(str(entry)).split("/")[0].rsplit(":", 1)[-1]
            ports.append(int(target))
    return ports


def healthcheck_text(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test") or []
    return " ".join(test) if isinstance(test, list) else str(test)


def inline_config(compose: dict[str, Any], service: dict[str, Any]) -> dict[str, str]:
    """target path -> content of the service's compose `configs` given inline."""
    defined = compose.get("configs") or {}
    found: dict[str, str] = {}
    for entry in service.get("configs") or []:
        source = entry if isinstance(entry, str) else entry["source"]
        target = f"/{source}" if isinstance(entry, str) else entry.get("target", f"/{source}")
        assert source in defined, f"config {source!r} is not defined under top-level configs"
        if "content" in defined[source]:
            found[target] = interpolate(defined[source]["content"])
        else:
            found[target] = (REPO_ROOT / defined[source]["file"]).read_text(encoding="utf-8")
    return found


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """(host file, container path) of every bind mount with a relative host path."""
    mounts: list[tuple[Path, str]] = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((REPO_ROOT / volume["source"], volume["target"]))
            continue
        source, _, rest = str(volume).partition(":")
        if source.startswith((".", "/")):
            mounts.append((REPO_ROOT / source, rest.split(":")[0]))
    return mounts


def service_by_image(compose_services: Services, fragment: str) -> tuple[str, dict[str, Any]]:
    matches = [(name, s) for name, s in compose_services.items() if fragment in str(s.get("image", ""))]
    assert len(matches) == 1, f"expected one service running an image with {fragment!r}, found {matches}"
    return matches[0]


# --------------------------------------------------------------------------- the services


def test_every_service_of_the_code_runs_in_compose(
    trolyao_services: Trolyao, services: dict[str, ServiceSettings]
) -> None:
    run = {settings.module for _, settings in trolyao_services.values()}
    assert run == set(services), f"services not in docker-compose.yml: {sorted(set(services) - run)}"


def test_env_names_are_read_by_the_service(
    trolyao_services: Trolyao,
) -> None:
    for name, (service, settings) in trolyao_services.items():
        unknown = sorted(
            env_name
            for env_name in environment_of(service)
            if env_name.upper().startswith(APP_ENV_PREFIXES) and env_name.upper() not in settings.env_names
        )
        assert not unknown, (
            f"{name} ({settings.cls.__name__}) reads none of {unknown}; it reads {sorted(settings.env_names)}"
        )


def test_image_env_names_are_read_by_some_service(all_env_names: frozenset[str]) -> None:
    unknown = sorted(
        name
        for name in dockerfile_env()
        if name.upper().startswith(APP_ENV_PREFIXES) and name.upper() not in all_env_names
    )
    assert not unknown, f"deploy/Dockerfile sets {unknown}, which no service reads"


def test_environment_validates_against_the_settings(
    trolyao_services: Trolyao,
) -> None:
    for name, (service, settings) in trolyao_services.items():
        try:
            settings.load(effective_env(service))
        except Exception as error:  # pragma: no cover - the assertion message is the point
            pytest.fail(f"{name}: its environment does not validate as {settings.cls.__name__}: {error}")


def test_no_setting_points_at_the_containers_own_loopback(
    trolyao_services: Trolyao,
) -> None:
    for name, (service, settings) in trolyao_services.items():
        loaded = settings.load(effective_env(service)).model_dump()
        for field, value in loaded.items():
            for host, _port in endpoints(str(value)) if isinstance(value, str) else []:
                assert not is_loopback(host), (
                    f"{name}: {field}={value!r} points at the container itself; "
                    "set it in docker-compose.yml (or the image) to a service name or 0.0.0.0"
                )
        bind = settings.listen_host(settings.cls.model_validate(loaded))
        if bind is not None:
            assert bind in BIND_ALL, f"{name} listens on {bind!r}: other containers cannot reach it"


def test_required_settings_are_given(
    trolyao_services: Trolyao,
) -> None:
    """Addresses of NATS and the gRPC services, QDRANT_URL for retrieval, the secrets."""
    for name, (service, settings) in trolyao_services.items():
        env = effective_env(service)
        for required in ("TROLYAO_NATS_URL", "TROLYAO_RETRIEVAL_ADDR", "TROLYAO_OPS_ADDR"):
            if required in settings.env_names:
                assert env.get(required), f"{name} needs {required}"
        if settings.service == "retrieval":
            assert env.get("QDRANT_URL"), "retrieval must use the Qdrant server (QDRANT_URL)"
        for secret in REQUIRED_SECRETS.get(settings.service, ()):
            if secret in settings.env_names:
                assert secret in environment_of(service), f"{name} needs {secret}"


def test_addresses_name_services_and_their_ports(
    compose: dict[str, Any],
    compose_services: Services,
    trolyao_services: Trolyao,
) -> None:
    nats_name, nats = service_by_image(compose_services, "nats")
    nats_port = int(re.search(r"^\s*listen:\s*\S*?:(\d+)", nats_conf_text(compose, nats), re.M).group(1))  # type: ignore[union-attr]
    collector_name, _ = service_by_image(compose_services, "opentelemetry-collector")
    collector_ports = {port for port in otlp_receiver_ports(collector_config(compose_services))}
    known_ports = {nats_name: {nats_port}, collector_name: collector_ports}
    for name, (service, _settings) in trolyao_services.items():
        for env_name, value in effective_env(service).items():
            for host, port in endpoints(value):
                if host in BIND_ALL:
                    continue
                assert host in compose_services, (
                    f"{name}: {env_name}={value!r} names no compose service {host!r}"
                )
                if host in trolyao_services:
                    listening = listening_port(host, trolyao_services)
                    assert port == listening, (
                        f"{name}: {env_name}={value!r} but {host} listens on {listening}"
                    )
                elif host in known_ports:
                    assert port in known_ports[host], (
                        f"{name}: {env_name}={value!r}; {host} listens on {known_ports[host]}"
                    )


def test_ports_and_health_checks_use_the_listening_port(
    trolyao_services: Trolyao,
) -> None:
    for name, (service, _settings) in trolyao_services.items():
        port = listening_port(name, trolyao_services)
        published = container_ports(service)
        if port is None:
            assert not published, f"{name} listens on no port but publishes {published}"
            continue
        assert all(target == port for target in published), f"{name} listens on {port}, publishes {published}"
        check = healthcheck_text(service)
        assert check, f"{name} listens on {port} but has no healthcheck"
        assert f":{port}" in check, f"{name}'s healthcheck does not probe port {port}: {check}"


def test_python_health_checks_compile(compose_services: Services) -> None:
    for name, service in compose_services.items():
        test = (service.get("healthcheck") or {}).get("test") or []
        if isinstance(test, list) and len(test) >= 4 and test[1] == "python" and test[2] == "-c":
            compile(interpolate(test[3]), f"<{name} healthcheck>", "exec")


def test_gateway_is_published(trolyao_services: Trolyao) -> None:
    gateways = [service for service, settings in trolyao_services.values() if settings.service == "gateway"]
    assert gateways and all(container_ports(service) for service in gateways), (
        "the gateway must publish its port"
    )


def test_retrieval_uses_the_qdrant_server_with_its_key(
    compose_services: Services,
    trolyao_services: Trolyao,
) -> None:
    qdrant_name, qdrant = service_by_image(compose_services, "qdrant/qdrant")
    server_key = environment_of(qdrant).get("QDRANT__SERVICE__API_KEY")
    for name, (service, settings) in trolyao_services.items():
        if settings.service != "retrieval":
            continue
        env = environment_of(service)
        assert [host for host, _ in endpoints(env["QDRANT_URL"])] == [qdrant_name]
        assert qdrant_name in (service.get("depends_on") or {}), f"{name} must wait for {qdrant_name}"
        if server_key:
            variable = re.sub(r"[:?].*", "", server_key.strip("${}"))
            assert variable in env.get("QDRANT_API_KEY", ""), f"{name} must send the key Qdrant requires"


# --------------------------------------------------------------------------- the whole file


def test_depends_on_names_exist_and_wait_on_health(compose_services: Services) -> None:
    for name, service in compose_services.items():
        depends = service.get("depends_on") or {}
        conditions = (
            {dep: "service_started" for dep in depends}
            if isinstance(depends, list)
            else {dep: (spec or {}).get("condition", "service_started") for dep, spec in depends.items()}
        )
        for dependency, condition in conditions.items():
            assert dependency in compose_services, f"{name} depends on unknown service {dependency!r}"
            assert dependency != name
            if condition == "service_healthy":
                assert compose_services[dependency].get("healthcheck"), (
                    f"{name} waits for {dependency} to be healthy, but {dependency} has no healthcheck"
                )


def test_secrets_come_from_the_environment(compose_services: Services) -> None:
    for name, service in compose_services.items():
        for env_name, value in environment_of(service).items():
            if SECRET_NAME.search(env_name.upper()):
                assert REQUIRED_VARIABLE.fullmatch(value.strip()), (
                    f"{name}: {env_name} must be `${{VAR:?message}}`, not {value!r}"
                )


def test_bind_mounted_files_exist_and_parse(compose_services: Services) -> None:
    for name, service in compose_services.items():
        for source, _target in bind_mounts(service):
            assert source.exists(), f"{name} mounts {source.relative_to(REPO_ROOT)}, which does not exist"
            if source.suffix in (".yaml", ".yml"):
                assert isinstance(yaml.safe_load(source.read_text(encoding="utf-8")), dict), source


def nats_conf_text(compose: dict[str, Any], nats: dict[str, Any]) -> str:
    command = [str(word) for word in nats.get("command") or []]
    assert "--config" in command or "-c" in command, "nats must run with a config file"
    path = command[command.index("--config" if "--config" in command else "-c") + 1]
    configs = inline_config(compose, nats)
    assert path in configs, f"nats config {path} is not provided through compose configs"
    return configs[path]


def test_nats_runs_jetstream_with_large_enough_messages(
    compose: dict[str, Any], compose_services: Services, tmp_path: Path
) -> None:
    _name, nats = service_by_image(compose_services, "nats")
    text = nats_conf_text(compose, nats)
    assert re.search(r"^\s*jetstream\s*[{:]", text, re.M), "JetStream must be enabled"
    store = re.search(r"store_dir\s*[:=]\s*\"?([^\s\"]+)", text)
    assert store, "JetStream needs a store_dir"
    volume_targets = [str(volume).split(":")[1] for volume in nats.get("volumes") or [] if ":" in str(volume)]
    assert any(store.group(1).startswith(target) for target in volume_targets), (
        "the JetStream store must be a volume"
    )
    max_payload = nats_size(text, "max_payload")
    assert max_payload is not None and max_payload >= MAX_MESSAGE_BYTES, (
        f"max_payload must allow the DOCS stream's {MAX_MESSAGE_BYTES}-byte messages"
    )
    configs = inline_config(compose, nats)
    includes = {Path(target).name: content for target, content in configs.items() if content != text}
    env = {name: interpolate(value) for name, value in environment_of(nats).items()}
    assert not (problem := nats_config_check(text, tmp_path, env, includes)), problem


def test_nats_requires_the_users_of_the_code(compose: dict[str, Any], compose_services: Services) -> None:
    """Every client authenticates; the users file is the one the code renders (no drift), and the
    server gets each service's password from the same variable as that service."""
    _name, nats = service_by_image(compose_services, "nats")
    text = nats_conf_text(compose, nats)
    assert re.search(r"^\s*include\s+\./auth\.conf\s*$", text, re.M), "nats must include its users file"
    configs = inline_config(compose, nats)
    users_file = next(content for target, content in configs.items() if target.endswith("/auth.conf"))
    expected = NatsAuth(REPO_ROOT / "deploy" / "nats", passwords_from_environment=True)
    assert users_file == expected.authorization_config(), (
        "run: trolyao event-credentials --deploy-dir deploy/nats render"
    )
    nats_env = environment_of(nats)
    for identity in SERVICE_IDENTITIES:
        service_env = environment_of(compose_services[identity])
        assert service_env.get("TROLYAO_NATS_USER") == identity
        assert service_env.get("TROLYAO_NATS_PASSWORD") == nats_env[password_variable(identity)]
    assert password_variable(OPERATOR) in nats_env


# --------------------------------------------------------------------------- telemetry


def collector_config(compose_services: Services) -> dict[str, Any]:
    _name, collector = service_by_image(compose_services, "opentelemetry-collector")
    command = " ".join(str(word) for word in collector.get("command") or [])
    config_path = re.search(r"--config[= ](\S+)", command)
    assert config_path, "the collector must be given its config file"
    files = {target: source for source, target in bind_mounts(collector)}
    assert config_path.group(1) in files, f"{config_path.group(1)} is not mounted from the repository"
    source = files[config_path.group(1)]
    assert source.parent == REPO_ROOT / "deploy", "the collector config lives in deploy/"
    config = yaml.safe_load(source.read_text(encoding="utf-8"))
    assert isinstance(config, dict)
    return config


def otlp_receiver_ports(config: dict[str, Any]) -> list[int]:
    protocols = (config.get("receivers") or {}).get("otlp", {}).get("protocols", {})
    return [int(str(spec["endpoint"]).rsplit(":", 1)[1]) for spec in protocols.values()]


def test_collector_receives_otlp_and_feeds_jaeger_and_prometheus(
    compose_services: Services,
) -> None:
    config = collector_config(compose_services)
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}
    assert "batch" in config["processors"]
    for pipeline_name, pipeline in config["service"]["pipelines"].items():
        for kind in ("receivers", "processors", "exporters"):
            for component in pipeline.get(kind, []):
                assert component in (config.get(kind) or {}), (
                    f"pipeline {pipeline_name} uses undefined {component}"
                )
        assert "batch" in pipeline.get("processors", []), f"pipeline {pipeline_name} should batch"
    for extension in config["service"].get("extensions", []):
        assert extension in config.get("extensions", {})
    exporters = config["exporters"]
    pipelines = config["service"]["pipelines"]
    jaeger = [name for name in exporters if name.split("/")[0] == "otlp"]
    assert jaeger, "traces must be exported over OTLP (to Jaeger)"
    jaeger_host = endpoints(exporters[jaeger[0]]["endpoint"]) or [
        (exporters[jaeger[0]]["endpoint"].split(":")[0], None)
    ]
    assert jaeger_host[0][0] in compose_services, (
        f"the trace exporter names no compose service: {jaeger_host}"
    )
    assert any(name in pipelines["traces"]["exporters"] for name in jaeger)
    assert "prometheus" in exporters and "prometheus" in pipelines["metrics"]["exporters"]


def test_prometheus_scrapes_the_collector(compose_services: Services) -> None:
    collector_name, _ = service_by_image(compose_services, "opentelemetry-collector")
    _name, prometheus = service_by_image(compose_services, "prom/prometheus")
    files = {target: source for source, target in bind_mounts(prometheus)}
    config_file = files.get("/etc/prometheus/prometheus.yml")
    assert config_file is not None and config_file.exists(), "prometheus must get deploy/prometheus.yml"
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    targets = [
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    ]
    assert targets
    for target in targets:
        host = target.rsplit(":", 1)[0]
        assert host in compose_services, f"prometheus scrapes {target}, not a compose service"
    exporter_port = int(
        collector_config(compose_services)["exporters"]["prometheus"]["endpoint"].rsplit(":", 1)[1]
    )
    assert f"{collector_name}:{exporter_port}" in targets, "prometheus must scrape the collector's exporter"


# --------------------------------------------------------------------------- the image


def test_dockerfile_builds_the_project_as_a_non_root_user() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M) or re.search(
        r"^FROM python:3\.11-slim", text, re.M
    ), "base image must be python:3.11-slim"
    assert re.search(r"pip install [^\n]*\.\s*(\\|&&|$)", text, re.M), "the image must `pip install .`"
    assert "apt-packages.txt" in text, "Debian packages come from deploy/apt-packages.txt"
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0"), (
        "the final stage must run as a non-root user"
    )
    cmd = re.findall(r"^CMD\s+(\[.*\])", text, re.M)
    assert cmd and module_exists(module_of_command(yaml.safe_load(cmd[-1])) or ""), "CMD must run a service"


def dockerignored(path: str, patterns: list[str]) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = Path(path).parts
        candidates = ["/".join(parts[: index + 1]) for index in range(len(parts))]
        if any(fnmatch.fnmatch(candidate, pattern) for candidate in candidates):
            ignored = not negate
    return ignored


def test_build_context_keeps_what_the_dockerfile_copies() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    sources = [
        word
        for line in text.splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for word in line.split()[1:-1]
        if not word.startswith("--")
    ]
    sources += re.findall(r"--mount=type=bind,source=([^,\s]+)", text)
    assert sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"
        assert not dockerignored(source.rstrip("/"), patterns), f".dockerignore excludes {source}"
    for needed in ["services/gateway/__main__.py", "trolyao/__init__.py", "config/units.yaml"]:
        assert not dockerignored(needed, patterns), f".dockerignore excludes {needed}"


# --------------------------------------------------------------------------- the introspection itself


def test_discovered_env_names_are_really_read(services: dict[str, ServiceSettings]) -> None:
    """Guards the introspection the other tests rely on: every name found changes its field."""
    for service in services.values():
        assert {"TROLYAO_NATS_URL", "TROLYAO_DATA_DIR"} <= service.env_names
        for env_name in service.env_names:
            assert setting_was_read(service, env_name), f"{service.cls.__name__} ignores {env_name}"
