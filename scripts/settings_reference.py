"""Print the configuration reference (every environment variable the services read) as Markdown.

The README's "Configuration" section is this script's output between its markers;
tests/test_readme.py fails when they drift apart: `python scripts/settings_reference.py --write`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic_settings import BaseSettings

from services.gateway.settings import GatewaySettings
from services.ingest.settings import IngestSettings
from services.ops.recovery.settings import SnapshotSettings
from services.ops.settings import OpsSettings
from services.retrieval.settings import RetrievalSettings
from trolyao.settings import CommonSettings

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- settings-reference:begin -->"
END = "<!-- settings-reference:end -->"
SECTIONS: list[tuple[str, type[BaseSettings]]] = [
    ("Shared by every service", CommonSettings),
    ("Gateway", GatewaySettings),
    ("Ingest", IngestSettings),
    ("Retrieval", RetrievalSettings),
    ("Ops", OpsSettings),
    ("Ops: snapshots", SnapshotSettings),
]


def env_names(cls: type[BaseSettings], name: str) -> list[str]:
    field = cls.model_fields[name]
    alias = field.validation_alias
    if alias is not None:
        return [str(choice) for choice in getattr(alias, "choices", [alias])]
    prefix = str(cls.model_config.get("env_prefix", "")) or "TROLYAO_<SERVICE>_"
    return [(prefix + name).upper().replace("<SERVICE>", "<SERVICE>")]


def reference() -> str:
    lines: list[str] = []
    seen: set[str] = set()
    for title, cls in SECTIONS:
        rows = []
        for name, field in cls.model_fields.items():
            shared = CommonSettings.model_fields.get(name)
            if cls is not CommonSettings and shared is not None and shared.default == field.default:
                continue  # shown once, under the shared settings (a service's own default is shown)
            names = env_names(cls, name)
            if names[0] in seen:
                continue
            seen.add(names[0])
            default = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
            shown = "(empty)" if default in ("", None) else str(default)
            description = (field.description or "").replace("|", "\\|").replace("\n", " ")
            rows.append(f"| `{' / '.join(names)}` | `{shown}` | {description} |")
        if rows:
            lines += [f"**{title}**", "", "| variable | default | meaning |", "|---|---|---|", *rows, ""]
    return "\n".join(lines).rstrip() + "\n"


def readme_section(text: str) -> str:
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def main() -> int:
    generated = reference()
    if "--write" in sys.argv:
        text = README.read_text(encoding="utf-8")
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        README.write_text(f"{head}{BEGIN}\n{generated}{END}{tail}", encoding="utf-8")
    else:
        print(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
