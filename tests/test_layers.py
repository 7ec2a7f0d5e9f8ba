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
