"""The migration guide says what the suite does: its command is the one run over the PySOA
code of ``tests/compat/pysoa_code``, and the names it gives exist."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from servicewire.compat import PySOAMigrationWarning
from servicewire.compat.schema_migration import migrate_source
from servicewire.settings import import_path
from tests.compat.rewriting import SED_SCRIPT

GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "migrating-from-pysoa.md").read_text()


def test_the_guides_command_is_the_one_the_suite_runs() -> None:
    commands = re.findall(r"sed -i '([^']+)'", GUIDE)
    assert commands == [SED_SCRIPT]


@pytest.mark.filterwarnings("ignore::servicewire.compat.PySOAMigrationWarning")
def test_the_guides_examples_of_rewritten_names_import() -> None:
    paths = re.findall(r"`\"?(servicewire\.compat\.pysoa[\w.]*:\w+)\"?`", GUIDE)
    modules = re.findall(r"from (servicewire\.compat\.[\w.]+) import", GUIDE)
    assert paths
    assert len(modules) >= 2
    for path in paths:
        assert import_path(path) is not None, path
    for module in modules:
        importlib.import_module(module)


def test_the_guide_names_the_warning() -> None:
    assert f"servicewire.compat.{PySOAMigrationWarning.__name__}" in GUIDE


def test_the_guides_migrate_schemas_example_is_what_the_command_writes() -> None:
    section = GUIDE[GUIDE.index("For example, this action:") :]
    before, after = re.findall(r"```python\n(.*?)```", section, re.DOTALL)[:2]
    source = "from conformity import fields\nfrom servicewire import Action\n\n\n" + before
    migrated = migrate_source(source).source
    assert after in migrated
    assert "conformity" not in migrated
