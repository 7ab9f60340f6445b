"""Architecture and hygiene: import rules, module size, docstrings, error tables, lint, types."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from sesamedisk import errors
from sesamedisk.web.errors import API_STATUS, SEAFHTTP_STATUS

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "sesamedisk"
BIN = Path(sys.executable).parent
MAX_MODULE_LINES = 400


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_is_small_and_documented(path: Path) -> None:
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path} is too long; split it"
    docstring = ast.get_docstring(ast.parse(text))
    assert docstring, f"{path} needs a one-line module docstring"
    assert "\n" not in docstring.strip().split("\n\n")[0], f"{path}: first line only"


def _error_classes() -> list[type[errors.SesameError]]:
    return [cls for _, cls in inspect.getmembers(errors, inspect.isclass)
            if issubclass(cls, errors.SesameError)]


@pytest.mark.parametrize("table", [SEAFHTTP_STATUS, API_STATUS], ids=["seafhttp", "api"])
def test_every_error_has_a_status_in_every_transport(table: dict[type, int]) -> None:
    for cls in _error_classes():
        assert any(base in table for base in cls.__mro__), cls
    assert SEAFHTTP_STATUS[errors.LibraryDeleted] == 444


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False,
                          timeout=600)


def test_import_rules_hold() -> None:
    result = _run(str(BIN / "lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_is_clean() -> None:
    result = _run(str(BIN / "ruff"), "check", "src", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _run(str(BIN / "mypy"))
    assert result.returncode == 0, result.stdout + result.stderr
