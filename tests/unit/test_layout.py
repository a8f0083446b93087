"""Project modules are imported only as `touchlog.*`.

Importing e.g. `domain` directly would load a second copy of the module under another
name, and event classes would then be stored under topics that do not resolve later.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED_DIRS = ("domain", "projections", "cli", "tests", "benchmarks")
BARE_PACKAGES = frozenset({"domain", "projections", "cli"})


def _python_files() -> Iterator[Path]:
    for name in SCANNED_DIRS:
        folder = ROOT / name
        if folder.is_dir():
            yield from sorted(folder.rglob("*.py"))


def _imported_modules(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    # Relative imports (level > 0) stay inside the package and are fine.
    return [node.module] if node.level == 0 and node.module else []


def _bare_imports(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    imports = (n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom))
    for node in imports:
        for module in _imported_modules(node):
            if module.split(".")[0] in BARE_PACKAGES:
                yield f"{path.relative_to(ROOT)}:{node.lineno}: imports {module!r}"


def test_no_bare_package_imports() -> None:
    files = list(_python_files())
    assert Path(__file__).resolve() in files, "the scan missed tests/, so it checks nothing"

    offences = [offence for path in files for offence in _bare_imports(path)]

    assert not offences, "import these as touchlog.<package>:\n" + "\n".join(offences)
