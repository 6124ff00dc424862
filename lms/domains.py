"""The domains of Lyceum, and discovery of what each contributes.

A domain is a package `lms/<name>/` of the fixed shape described in docs/architecture.md.
Its models and settings are found here by name, so adding a domain means
adding its name to `DOMAINS`, not editing registries across the tree.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

# Shared parts every domain builds on (their tables included), then the domains.
KERNEL = ("jobs", "audit")
DOMAINS = (
    "users",
    "courses",
    "content",
    "enrollments",
    "admin",
    "notifications",
    "payments",
    "search",
    "analytics",
    "assessments",
    "communication",
)


def _modules(suffix: str, names: tuple[str, ...]) -> list[ModuleType]:
    found = []
    for name in names:
        module = f"lms.{name}.{suffix}"
        if importlib.util.find_spec(module) is not None:
            found.append(importlib.import_module(module))
    return found


def import_models() -> list[ModuleType]:
    """Import every `models` module, so `Base.metadata` knows every table."""
    return _modules("models", KERNEL + DOMAINS)


def settings_classes() -> list[type]:
    """Each kernel part's and domain's own settings class (`settings.py` defines exactly one
    `*Settings`)."""
    from pydantic_settings import BaseSettings

    classes = []
    for module in _modules("settings", KERNEL + DOMAINS):
        classes.extend(
            value
            for name, value in vars(module).items()
            if name.endswith("Settings")
            and isinstance(value, type)
            and issubclass(value, BaseSettings)
            and value.__module__ == module.__name__
        )
    return classes
