"""The house rules of the code base, read from the code's own imports (docs/architecture.md).

- the kernel (`trolyao/`) stands below the services: it imports neither `services` nor `stack`;
- services never import the operator's tools (`stack/`), nor another service's modules;
- a `domain/` package imports no adapter, no entrypoint, no generated wire type (`trolyao.v1`)
  and no transport library;
- a service's top level holds only its composition files and subpackages;
- no hand-written module grows past 700 lines.

Imports are found with `ast` (inside functions too), so a lazy import cannot slip by.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("gateway", "ingest", "retrieval", "ops")
GENERATED = REPO / "trolyao" / "v1"
MAX_MODULE_LINES = 700
SERVICE_TOP_LEVEL_FILES = {"__init__.py", "__main__.py", "bootstrap.py", "settings.py", "service.py"}
# Packages of a service's top level that are not bounded contexts but data beside the code.
SERVICE_DATA_PACKAGES = {"fitted"}
LAYER_PACKAGES = {"domain", "adapters", "entrypoints", "use_cases"}
TRANSPORT_MODULES = (
    "grpc",
    "google.protobuf",
    "nats",
    "fastapi",
    "httpx",
    "qdrant_client",
    "qdrant_edge",
    "trolyao.v1",
)


@dataclass(frozen=True)
class Import:
    source: Path
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.source.relative_to(REPO)}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> Iterator[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield Import(path, node.lineno, base)
            for alias in node.names:
                yield Import(path, node.lineno, f"{base}.{alias.name}")


def python_files(*roots: str) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        files.extend(p for p in (REPO / root).rglob("*.py") if GENERATED not in p.parents)
    return sorted(files)


def targets(target: str, *prefixes: str) -> bool:
    return any(target == prefix or target.startswith(prefix + ".") for prefix in prefixes)


def layer_of(path: Path) -> str | None:
    for part in path.relative_to(REPO).parts:
        if part in LAYER_PACKAGES:
            return part
    return None


def kernel_violations() -> list[Import]:
    return [
        imp
        for path in python_files("trolyao")
        for imp in imports_of(path)
        if targets(imp.target, "services", "stack")
    ]


def service_violations() -> list[Import]:
    found: list[Import] = []
    for service in SERVICES:
        own = ["services", service]
        for path in python_files(f"services/{service}"):
            for imp in imports_of(path):
                foreign = targets(imp.target, "services") and imp.target.split(".")[:2] not in (
                    ["services"],
                    own,
                )
                if targets(imp.target, "stack") or foreign:
                    found.append(imp)
    return found


def domain_violations() -> list[Import]:
    found: list[Import] = []
    for path in python_files("services"):
        if layer_of(path) != "domain":
            continue
        for imp in imports_of(path):
            parts = imp.target.split(".")
            if targets(imp.target, *TRANSPORT_MODULES) or (
                parts[0] == "services" and ("adapters" in parts or "entrypoints" in parts)
            ):
                found.append(imp)
    return found


def top_level_strays() -> list[str]:
    strays: list[str] = []
    for service in SERVICES:
        root = REPO / "services" / service
        for entry in sorted(root.iterdir()):
            if entry.name.startswith((".", "__pycache__")):
                continue
            if entry.is_file() and entry.name not in SERVICE_TOP_LEVEL_FILES:
                strays.append(str(entry.relative_to(REPO)))
            elif entry.is_dir() and entry.name not in LAYER_PACKAGES | SERVICE_DATA_PACKAGES:
                # A bounded context: a subpackage of the same shape (no loose modules beside its layers).
                for inner in sorted(entry.iterdir()):
                    if inner.name.startswith((".", "__pycache__")):
                        continue
                    allowed = inner.name in SERVICE_TOP_LEVEL_FILES or (
                        inner.is_dir() and inner.name in LAYER_PACKAGES
                    )
                    if not allowed:
                        strays.append(str(inner.relative_to(REPO)))
    return strays


def long_modules() -> list[str]:
    return [
        f"{path.relative_to(REPO)}: {lines} lines"
        for path in python_files("trolyao", "services", "stack", "scripts", "tests")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]


def test_the_kernel_imports_no_service_and_no_tool() -> None:
    assert [str(v) for v in kernel_violations()] == []


def test_a_service_imports_neither_the_tools_nor_another_service() -> None:
    assert [str(v) for v in service_violations()] == []


def test_domain_code_imports_no_adapter_entrypoint_or_wire_type() -> None:
    assert [str(v) for v in domain_violations()] == []


def test_a_service_top_level_holds_only_its_composition_files_and_subpackages() -> None:
    assert top_level_strays() == []


def test_no_hand_written_module_exceeds_700_lines() -> None:
    assert long_modules() == []


@pytest.mark.parametrize(
    ("relative", "source", "rule"),
    [
        ("trolyao/_probe_layering.py", "from services.ingest import service\n", kernel_violations),
        ("services/gateway/_probe_layering.py", "import services.ops.bootstrap\n", service_violations),
        ("services/retrieval/domain/_probe_layering.py", "from ..adapters import x\n", domain_violations),
        ("services/ingest/domain/_probe_layering.py", "from trolyao.v1 import y\n", domain_violations),
    ],
)
def test_each_rule_catches_a_wrong_way_import(relative: str, source: str, rule: object) -> None:
    """The rules are not vacuous: a probe module with a wrong-way import is reported, then removed."""
    probe = REPO / relative
    probe.write_text(source, encoding="utf-8")
    try:
        found = rule()  # type: ignore[operator]
        assert any(v.source == probe for v in found), found
    finally:
        probe.unlink()
