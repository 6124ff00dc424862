"""The layers of DESIGN.md, checked on every run: what each package may import.

- `media/` and `certificates/` are pure libraries: they import nothing of ours.
- `web/` never imports task or pipeline code; it asks `lms` for work.
- `lms/` imports neither `web/`, `tasks/` nor `pipelines/` (the `lms` command lives in
  `lyceum/`, which wires them together).
- A domain (`lms/<domain>/`) reaches another domain only through its `service`, `events`,
  `errors` or `access` modules, and so do the shared parts of `lms/` (jobs, security, …):
  no module reads another domain's models. There are no exceptions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import lms.domains

ROOT = Path(__file__).resolve().parents[2]
OURS = ("lms", "web", "tasks", "pipelines", "media", "certificates", "lyceum")
DOMAINS = set(lms.domains.DOMAINS)  # the one list of domains
PUBLIC_MODULES = {"service", "events", "errors", "access"}


def module_name(path: Path) -> list[str]:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports (relative imports resolved), top level or not."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path)[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return {name for name in found if name.split(".")[0] in OURS}


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else []


def violations(package: str, forbidden: set[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sources(package)
        for name in sorted(imported_modules(path))
        if name.split(".")[0] in forbidden
    ]


def test_pure_libraries_import_nothing_of_ours():
    assert violations("media", set(OURS) - {"media"}) == []
    assert violations("certificates", set(OURS) - {"certificates"}) == []


def test_web_never_imports_task_or_pipeline_code():
    assert violations("web", {"tasks", "pipelines", "lyceum"}) == []


def test_lms_imports_neither_web_nor_tasks():
    assert violations("lms", {"web", "tasks", "pipelines", "lyceum"}) == []


def _crossings() -> set[tuple[str, str]]:
    found = set()
    for path in sources("lms"):
        here = path.relative_to(ROOT).parts
        own = here[1] if len(here) > 2 and here[1] in DOMAINS else None
        for name in imported_modules(path):
            parts = name.split(".")
            if len(parts) < 3 or parts[0] != "lms" or parts[1] not in DOMAINS or parts[1] == own:
                continue
            if parts[2] not in PUBLIC_MODULES:
                found.add((str(Path(*here)), ".".join(parts[:3])))
    return found


def test_domains_reach_each_other_only_through_public_modules():
    assert _crossings() == set(), "use the other domain's service, access or events instead"
