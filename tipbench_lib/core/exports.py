"""A package's public names, imported from their module only when one is first used.

Every phase package lists its public names in ``__init__`` (``__all__``) so a reader sees the
phase's surface in one place, yet importing a package must stay cheap: the MLflow keeper and
``tipbench --help`` should not load polars or altair, and ``python -m
tipbench_lib.tracking.server`` must not find its module already imported by its package. So a
package maps each name to its module and lets :func:`lazy_exports` import that module on first
use (PEP 562). (It no longer breaks an import circle: ``stats`` imports nothing from the phases.)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, **modules: tuple[str, ...]
) -> tuple[list[str], Callable[[str], Any]]:
    """``__all__`` and a module ``__getattr__`` for ``package``: ``module=(names...)`` says which
    submodule defines each public name."""
    home = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = home.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return sorted(home), __getattr__
