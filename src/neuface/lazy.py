"""Lazy public APIs for the stage packages (PEP 562).

A stage's `__init__` names what other stages may use, but importing it must stay cheap: the CLI imports
`neuface.detect.backends.registry` at start-up for `--help`, and Python runs `neuface/detect/__init__.py`
first, so an eager re-export would pull OpenCV, onnxruntime and torch into every command. Each name is
imported from its submodule on first use instead.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package` whose public `names` map to the submodule defining each."""

    def get_attribute(name: str) -> Any:
        submodule = names.get(name)
        if submodule is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{submodule}"), name)
        setattr(importlib.import_module(package), name, value)  # later lookups are plain attribute hits
        return value

    def list_names() -> list[str]:
        return sorted({*names, *importlib.import_module(package).__dict__})

    return get_attribute, list_names
