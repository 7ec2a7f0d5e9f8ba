"""Data flows one way, and so do imports: a layer of xrsr_lib never imports a higher one."""

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "xrsr_lib"

#: Layer of each top-level part (lower numbers are lower layers).
LAYERS = {
    "device": 0,
    "config": 0,
    "io": 0,
    "models": 0,
    "simulate": 1,
    "prepare": 2,
    "train": 3,
    "infer": 3,
    "restore": 3,
    "evaluate": 3,
    "plotting": 3,
    "studies": 4,
    "recovery": 5,
    "cli": 5,
    "__init__": 5,
    "napari": 5,
}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_module_imports_a_higher_layer():
    bad = []
    for path in LIB.rglob("*.py"):
        rel = path.relative_to(LIB.parent).with_suffix("")
        own = _part(".".join(rel.parts))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("xrsr_lib"):
                if node.module == "xrsr_lib":
                    targets = [f"xrsr_lib.{a.name}" for a in node.names]
                else:
                    targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("xrsr_lib")]
            else:
                continue
            for target in targets:
                other = _part(target)
                if other in LAYERS and LAYERS[other] > LAYERS[own]:
                    bad.append(f"{rel}: imports {target}")
    assert not bad, "\n".join(bad)


def test_every_part_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in LIB.iterdir() if p.suffix == ".py" or p.is_dir()}
    parts.discard("__pycache__")
    assert parts <= set(LAYERS), parts - set(LAYERS)


#: Longest module of xrsr_lib, lines: a longer one holds more than one responsibility (split it).
MAX_MODULE_LINES = 500


def test_modules_stay_small():
    long = {
        str(p.relative_to(LIB.parent)): n
        for p in LIB.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_module_imports_another_modules_private_name():
    """A name with a leading underscore is private to its module (or, for a module of that name, to
    its package): another module of xrsr_lib never imports it."""
    bad = []
    for path in LIB.rglob("*.py"):
        rel = path.relative_to(LIB.parent).with_suffix("")
        package = ".".join(rel.parts[:-1])
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("xrsr_lib")):
                continue
            last = node.module.split(".")[-1]
            # a private module of this very package (e.g. pores/_checks.py) may be imported by its siblings
            private_sibling = last.startswith("_") and node.module.rsplit(".", 1)[0] == package
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    bad.append(f"{rel}: from {node.module} import {alias.name}")
            if last.startswith("_") and not private_sibling:
                bad.append(f"{rel}: imports the private module {node.module}")
    assert not bad, "\n".join(bad)
