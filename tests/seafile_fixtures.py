"""The shared Seafile client fixtures (../shared/fixtures/seafile-client) for every test layer."""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FIXTURES = SHARED / "fixtures" / "seafile-client"
MANIFEST: dict[str, Any] = json.loads((FIXTURES / "manifest.json").read_text("utf-8"))


@functools.cache
def fixture_tree() -> ModuleType:
    """The fixtures' own tree generator (fixture_tree.py), imported from the shared folder."""
    spec = importlib.util.spec_from_file_location("fixture_tree", FIXTURES / "fixture_tree.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
