"""Shared fixtures: a CLI runner, the repository's folders, and small file makers."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from mediins_cli.cli import app

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"


@pytest.fixture
def run():
    """Invoke ``mediins ARGS...`` in-process; the result has exit_code, stdout and stderr."""
    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None):
        # wide unless a test says otherwise: tests of what is said, not of the layout (the
        # narrow-terminal tests give COLUMNS themselves: tests/test_narrow.py)
        env = {"COLUMNS": "1000", **(env or {})}
        return runner.invoke(app, [str(a) for a in args], env=env, catch_exceptions=False)

    return invoke


@pytest.fixture
def write(tmp_path: Path):
    """Write text (UTF-8 unless told) to a file under tmp_path and return its path."""

    def make(name: str, text: str, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode(encoding))
        return path

    return make
