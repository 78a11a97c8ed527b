"""The README's configuration reference is generated from the settings classes; keep them in step."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_readme_configuration_reference_matches_the_settings_classes() -> None:
    spec = importlib.util.spec_from_file_location(
        "settings_reference", REPO / "scripts" / "settings_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert module.readme_section(readme) == module.reference(), (
        "README configuration is stale: run `.venv/bin/python scripts/settings_reference.py --write`"
    )


def test_readme_shows_the_two_commands() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
    assert (REPO / ".ci" / "run").read_text().strip().endswith("make test")
