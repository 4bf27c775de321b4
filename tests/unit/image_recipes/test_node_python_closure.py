"""The node image ships the engine's package but only the node's dependency closure (recipe
`python.dependencies`): every import the node's code can reach must be shipped."""

from __future__ import annotations

import ast
import importlib.metadata as md
import os
import sys

from image_recipes.builder import DEBIAN_PROVIDED, _canonical, default_project_dir, python_requirements
from image_recipes.recipe import PROJECT_PACKAGES, load_recipe

# every package the image ships (one list: recipe.PROJECT_PACKAGES) but the engine's and the builder's
NODE_PACKAGES = tuple(p for p in PROJECT_PACKAGES if p not in ("engine", "image_recipes"))
# engine modules are followed by their module-level imports only: the node imports engine.cli
# (nodecore.cli registers every package's subcommands), engine.auth, .ca, .appliance (seed
# user_data), .config; the imports inside engine functions are the appliance's own code paths
# (`hcinode engine serve`, engine.appliance.load_seed / engine_init, migrations)
# modules of Debian packages in the node recipe (python3-gi, -blockdev, -parted, -pyudev, -libvirt, -sanlock)
DEBIAN_MODULES = {"gi", "blockdev", "parted", "_ped", "pyudev", "six", "libvirt", "libvirt_qemu", "sanlock",
                  "bytesize", "yaml"}


def _module_file(name: str) -> str | None:
    root = default_project_dir()
    base = os.path.join(root, *name.split("."))
    for path in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.isfile(path):
            return path
    return None


def _imports(path: str, module: str, top_level_only: bool) -> set[str]:
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out: set[str] = set()
    package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module or ""
            out.add(name)
            out.update(f"{name}.{a.name}" for a in node.names)  # `from pkg import module`
    return out


def reachable_third_party() -> set[str]:
    root = default_project_dir()
    queue: list[tuple[str, bool]] = []
    for package in NODE_PACKAGES:
        for dirpath, _dirs, files in os.walk(os.path.join(root, package)):
            for name in files:
                if name.endswith(".py"):
                    rel = os.path.relpath(os.path.join(dirpath, name), root)[:-3].replace(os.sep, ".")
                    queue.append((rel.removesuffix(".__init__"), False))
    queue.append(("engine.cli", True))
    seen: set[str] = set()
    third: set[str] = set()
    while queue:
        module, top_only = queue.pop()
        if module in seen:
            continue
        seen.add(module)
        path = _module_file(module)
        if path is None:
            continue
        for name in _imports(path, module, top_only or module.startswith("engine.")):
            top = name.split(".")[0]
            if top in (*NODE_PACKAGES, "engine", "image_recipes"):
                if _module_file(name):
                    queue.append((name, False))
            elif top not in sys.stdlib_module_names and top != "__future__":
                third.add(top)
    return third


def test_every_third_party_import_of_the_node_is_shipped() -> None:
    recipe = load_recipe("node")
    shipped = {_canonical(r.split("==")[0]) for r in python_requirements(roots=recipe.python.dependencies)}
    by_module = md.packages_distributions()
    missing = {}
    for top in sorted(reachable_third_party() - DEBIAN_MODULES):
        dists = {_canonical(d) for d in by_module.get(top, [top])}
        if not dists & (shipped | DEBIAN_PROVIDED):
            missing[top] = sorted(dists)
    assert missing == {}, f"imported by the node's code but not in the node image: {missing}"


def test_the_engine_server_stack_stays_out_of_the_node() -> None:
    recipe = load_recipe("node")
    shipped = {_canonical(r.split("==")[0]) for r in python_requirements(roots=recipe.python.dependencies)}
    assert not shipped & {"fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg", "pydantic"}
