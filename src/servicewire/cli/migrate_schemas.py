"""``servicewire migrate-schemas PATH... [--write]``: Conformity schemas into pydantic models.

Rewrites the Conformity declarations of the Python files under each ``PATH`` (see
:mod:`servicewire.compat.schema_migration`). By default it only prints the unified diff of
what it would change; ``--write`` changes the files. Each declaration converted or left as
it is gets a line on stderr; a file that does not parse is named and skipped.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import Path

import click

from servicewire.compat.schema_migration import migrate_source

__all__ = ["migrate_schemas"]

# Directories no one wants rewritten: environments, caches, version control.
_SKIPPED_DIRECTORIES = frozenset(
    {".git", ".hg", ".tox", ".nox", ".venv", "venv", "__pycache__", "node_modules", "build"}
)


def python_files(path: Path) -> Iterator[Path]:
    """``path`` itself if it is a file, else the ``.py`` files under it, in order."""
    if path.is_file():
        yield path
        return
    for candidate in sorted(path.rglob("*.py")):
        relative = candidate.relative_to(path).parts[:-1]
        if not any(part in _SKIPPED_DIRECTORIES or part.endswith(".egg-info") for part in relative):
            yield candidate


@click.command(
    help="Rewrite Conformity schemas into pydantic models (prints a diff unless --write)."
)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--write", is_flag=True, help="Change the files instead of printing the diff.")
def migrate_schemas(paths: tuple[Path, ...], write: bool) -> int:
    for root in paths:
        for path in python_files(root):
            source = path.read_text(encoding="utf-8")
            try:
                migration = migrate_source(source, str(path))
            except SyntaxError as error:
                click.echo(f"{path}: skipped, it does not parse: {error.msg}", err=True)
                continue
            for note in (*migration.converted, *migration.skipped):
                click.echo(note, err=True)
            if not migration.changed:
                continue
            if write:
                path.write_text(migration.source, encoding="utf-8")
            else:
                click.echo(
                    "".join(
                        difflib.unified_diff(
                            source.splitlines(keepends=True),
                            migration.source.splitlines(keepends=True),
                            fromfile=str(path),
                            tofile=str(path),
                        )
                    ),
                    nl=False,
                )
    return 0
