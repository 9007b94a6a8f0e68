"""The package layering of docs/architecture.md, checked on the source.

Walks the imports (with `ast`, nothing is imported) of every module of
imagehub/ and bench/ and fails on
- an upward import: a package importing one above it in `LAYERS`;
- a private cross-package import: a module reaching into another
  package's private module (``imagehub.embed._defaults``) instead of its
  public names (``imagehub.embed.DEFAULTS``).
"""

from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Bottom to top: a layer may import only itself and the layers before it.
# "imagehub" is the package root (`import imagehub`, its lazy public
# names), which sits above every package it re-exports; "bench" is on top.
LAYERS = (
    "_version",
    "_callable",
    "spec",
    "outputs",
    "data",
    "scan",
    "hub",
    "export",
    "check",
    "keras",
    "engines",
    "embed",
    "retrain",
    "compare",
    "testing",
    "imagehub",
    "cli",
    "__main__",
    "bench",
)
# Known upward imports, each with its reason; new ones fail the test.
ALLOWED_UPWARD: set[tuple[str, str]] = set()
# Root modules every package shares: the version and the callable-module
# helper are the bottom layer, not private parts of another package.
SHARED_ROOT_MODULES = frozenset({"_version", "_callable"})


def _python_files(root: str, folder: str) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(os.path.join(root, folder)):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        found += [
            os.path.join(dirpath, f) for f in filenames if f[-3:] == ".py"
        ]
    return sorted(found)


def _module_name(root: str, path: str) -> str:
    rel = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
    return rel.removesuffix(".__init__")


def _is_module(root: str, name: str) -> bool:
    """True when the dotted `name` is a module or package of this tree."""
    path = os.path.join(root, *name.split("."))
    return os.path.isdir(path) or os.path.isfile(path + ".py")


def _imports(root: str, path: str) -> list[tuple[int, str]]:
    """(line, imported module) of every import in the file, resolving
    ``from package import module`` to the module."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    module = _module_name(root, path)
    package = (
        module if path.endswith("__init__.py") else module.rpartition(".")[0]
    )
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}".strip(".")
            for alias in node.names:
                full = f"{base}.{alias.name}"
                out.append(
                    (node.lineno, full if _is_module(root, full) else base)
                )
    return out


def _layer(module: str) -> str | None:
    """The layer of a module of this tree, or None for third parties."""
    parts = module.split(".")
    if parts[0] == "bench" or (parts[0] == "_common" and len(parts) == 1):
        return "bench"
    if parts[0] != "imagehub":
        return None
    if len(parts) == 1:
        return "imagehub"
    return parts[1] if parts[1] in LAYERS else "imagehub"


def _private_part(module: str) -> str | None:
    """The first private component below the package, if any."""
    parts = module.split(".")
    start = 1 if parts[0] == "imagehub" else len(parts)
    for part in parts[start:]:
        if part.startswith("_") and not part.startswith("__"):
            return part
    return None


def _violations(root: str = ROOT) -> list[str]:
    found = []
    for path in _python_files(root, "imagehub") + _python_files(root, "bench"):
        importer = _module_name(root, path)
        own = _layer(importer)
        for line, target in _imports(root, path):
            layer = _layer(target)
            if layer is None or layer == own:
                continue
            where = f"{os.path.relpath(path, root)}:{line} imports {target}"
            upward = LAYERS.index(layer) > LAYERS.index(own)
            if upward and (importer, target) not in ALLOWED_UPWARD:
                found.append(f"{where}: upward ({own} is below {layer})")
            private = _private_part(target)
            if private is not None and private not in SHARED_ROOT_MODULES:
                found.append(
                    f"{where}: private module {private} of another "
                    "package; use that package's public names"
                )
    return found


def test_no_upward_or_private_cross_package_imports():
    violations = _violations()
    assert not violations, "\n".join(violations)


def test_every_package_has_a_layer():
    packages = {
        name
        for name in os.listdir(os.path.join(ROOT, "imagehub"))
        if os.path.isfile(os.path.join(ROOT, "imagehub", name, "__init__.py"))
    }
    assert packages <= set(LAYERS), sorted(packages - set(LAYERS))


@pytest.mark.parametrize(
    ("importer", "source", "expected"),
    [
        ("imagehub/hub/x.py", "import imagehub\n", "upward"),
        ("imagehub/spec/x.py", "from imagehub.hub import load\n", "upward"),
        ("imagehub/cli/x.py", "from imagehub.embed._run import X\n", "private"),
        ("bench/x.py", "from imagehub.hub import _download\n", "private"),
    ],
)
def test_the_walker_finds_each_kind_of_violation(
    importer, source, expected, tmp_path
):
    # A violation planted in a copy of the tree's layout must be found.
    path = tmp_path / importer
    path.parent.mkdir(parents=True)
    path.write_text(source, encoding="utf-8")
    for package in ("hub", "embed"):
        (tmp_path / "imagehub" / package).mkdir(parents=True, exist_ok=True)
    (tmp_path / "imagehub" / "embed" / "_run.py").write_text("")
    (tmp_path / "imagehub" / "hub" / "_download.py").write_text("")
    found = _violations(str(tmp_path))
    assert any(expected in v for v in found), found
