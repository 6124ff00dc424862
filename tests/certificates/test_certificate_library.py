"""certificates/ is a pure library: it imports nothing of ours (no database, Celery, GraphQL)."""

import ast
from pathlib import Path

import certificates

OUR_PACKAGES = {"lms", "web", "tasks", "pipelines", "media", "loadtests", "tests"}
# The PDF needs the first three; Open Badges proofs (badges.py) need the last two.
THIRD_PARTY_ALLOWED = {"reportlab", "qrcode", "PIL", "cryptography", "rfc8785"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_library_imports_only_itself_the_stdlib_and_its_declared_dependencies():
    import sys

    for path in Path(certificates.__file__).parent.glob("*.py"):
        roots = imported_roots(path) - {"certificates", "__future__"}
        assert not roots & OUR_PACKAGES, path.name
        assert roots - set(sys.stdlib_module_names) <= THIRD_PARTY_ALLOWED, path.name


def test_public_api():
    assert sorted(certificates.__all__) == [
        "CertificateData",
        "Paper",
        "is_well_formed",
        "new_certificate_code",
        "normalize_code",
        "qr_png",
        "render_certificate_pdf",
    ]
