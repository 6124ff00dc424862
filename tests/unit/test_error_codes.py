"""Error codes are part of the contract: every code the code base can raise or record is a
value of the schema's `ErrorCode` enum, so clients learn them from the schema."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import media.errors
from lms.domains import DOMAINS
from web.schema import build_schema

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("lms", "web", "media", "certificates", "tasks", "pipelines")
CODE = re.compile(r"^[A-Z][A-Z0-9_]{2,}$")


def _string(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and CODE.match(node.value):
        return node.value
    return None


def _trees(places=PACKAGES) -> list[tuple[Path, ast.Module]]:
    """The parsed sources of packages, folders or single files (migrations left out)."""
    paths = []
    for place in places:
        where = ROOT / place
        paths += [where] if where.is_file() else sorted(where.rglob("*.py"))
    return [
        (path, ast.parse(path.read_text(), str(path)))
        for path in paths
        if "migrations" not in path.parts
    ]


def _is_code_enum(node: ast.AST) -> bool:
    """`class XCode(enum.StrEnum)`: a domain's codes, in its `errors.py`."""
    return isinstance(node, ast.ClassDef) and any(
        getattr(base, "attr", getattr(base, "id", None)) == "StrEnum" for base in node.bases
    )


def code_literals(trees: list[tuple[Path, ast.Module]]) -> list[tuple[str, Path, int]]:
    """Codes written in the source: `code="X"`/`error_code="X"` arguments, the first argument
    of a helper whose first parameter is `code` (`invalid("X", message, field)`), `code = "X"`
    class attributes, `{"code": "X"}` entries and the members of a domain's code enum."""
    helpers = {  # functions whose first parameter is the code
        node.name
        for _, tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef) and [a.arg for a in node.args.args[:1]] == ["code"]
    }
    found = []
    for path, tree in trees:
        for node in ast.walk(tree):
            candidates: list[ast.AST] = []
            if isinstance(node, ast.Call):
                candidates = [k.value for k in node.keywords if k.arg in ("code", "error_code")]
                name = getattr(node.func, "attr", getattr(node.func, "id", None))
                if name in helpers and node.args:
                    candidates.append(node.args[0])
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "code" for t in node.targets
            ):
                candidates = [node.value]
            elif isinstance(node, ast.Dict):
                candidates = [
                    value
                    for key, value in zip(node.keys, node.values, strict=True)
                    if isinstance(key, ast.Constant) and key.value == "code"
                ]
            elif _is_code_enum(node) and path.name == "errors.py":
                candidates = [item.value for item in node.body if isinstance(item, ast.Assign)]
            for candidate in candidates:
                code = _string(candidate)
                if code:
                    found.append((code, path, candidate.lineno))
    return found


def raised_codes() -> dict[str, str]:
    """Every code the code base can raise or record, with where each was first seen."""
    found: dict[str, str] = {}
    for code, path, line in code_literals(_trees()):
        found.setdefault(code, f"{path.relative_to(ROOT)}:{line}")
    return found


def schema_codes() -> set[str]:
    return set(build_schema().type_map["ErrorCode"].values)


def test_every_raised_code_is_in_the_schema():
    missing = {code: where for code, where in raised_codes().items() if code not in schema_codes()}
    assert not missing, f"add these to schemas/errors.graphql: {missing}"


def test_media_and_eligibility_codes_are_in_the_schema():
    schema = build_schema()
    reasons = set(schema.type_map["EligibilityReasonCode"].values)
    reasons |= set(schema.type_map["LessonAccessReason"].values)
    assert (media.errors.CODES | reasons) - schema_codes() == set()


def test_every_schema_code_has_a_description():
    values = build_schema().type_map["ErrorCode"].values
    assert all(value.description for value in values.values())


def test_the_scan_finds_codes_where_they_are_raised():
    found = raised_codes()
    # One of each form the scan reads: a keyword, a class attribute, a dict entry, a helper's
    # first argument.
    assert {"EMAIL_TAKEN", "RATE_LIMITED", "QUERY_TOO_DEEP", "TITLE_REQUIRED"} <= set(found)


def _enum_domains() -> list[str]:
    """Domains whose `errors.py` declares their codes as an enum."""
    found = []
    for domain in DOMAINS:
        path = ROOT / "lms" / domain / "errors.py"
        if path.exists() and any(map(_is_code_enum, ast.walk(ast.parse(path.read_text())))):
            found.append(domain)
    return found


def test_a_domain_with_a_code_enum_writes_no_code_elsewhere():
    """Its `errors.py` is the one place its codes are written: everywhere else in the domain a
    code is a member of an enum (its own, or the one of the domain that owns the code), or one
    of the shared codes of `lms.errors` and the job machinery (`lms.jobs`)."""
    shared = {code for code, _, _ in code_literals(_trees(("lms/errors.py", "lms/jobs")))}
    domains = _enum_domains()
    assert {"users", "courses", "content", "enrollments", "admin"} <= set(domains)
    written = [
        f"{path.relative_to(ROOT)}:{line} {code}"
        for domain in domains
        for code, path, line in code_literals(_trees((f"lms/{domain}",)))
        if path.name != "errors.py" and code not in shared
    ]
    assert written == [], "use the domain's code enum (lms/<domain>/errors.py)"
