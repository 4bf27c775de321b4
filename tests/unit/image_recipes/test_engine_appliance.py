"""The engine appliance recipe: the engine and PostgreSQL 15 in the image, only the engine's Python
closure, and the units that turn the NoCloud seed into a serving engine."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from image_recipes import builder
from image_recipes.recipe import load_recipe

RECIPE_DIR = Path(__file__).resolve().parents[3] / "image_recipes/recipes/engine-appliance"
SYSTEM = RECIPE_DIR / "overlay/etc/systemd/system"


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    assert parser.read(SYSTEM / name), name
    return parser


def test_packages_and_the_python_subset() -> None:
    recipe = load_recipe("engine-appliance")
    packages = recipe.packages.all()
    assert {"postgresql-15", "cloud-init", "python3", "linux-image-cloud-amd64"} <= set(packages)
    assert recipe.python.install_project and recipe.python.packages == ("nodecore", "engine")
    closure = builder.python_requirements(roots=recipe.python.dependencies)
    reqs = {r.split("==")[0].lower().replace("_", "-") for r in closure}
    assert {"fastapi", "uvicorn", "sqlalchemy", "alembic", "psycopg", "cryptography", "crypt-r", "zxcvbn"} <= reqs
    assert not reqs & {"blivet", "pykickstart", "urwid", "requests"}  # the node's, not the engine's
    # the LLVM JIT and the locale sources go; /etc and the package database stay
    assert "usr/lib/x86_64-linux-gnu/libLLVM-14.so*" in recipe.prune.paths


def test_units_are_enabled_and_ordered_after_cloud_init() -> None:
    recipe = load_recipe("engine-appliance")
    assert {"hcinode-engine-firstboot.service", "hcinode-engine.service", "cloud-init.service"} <= set(
        recipe.services.enable)
    first = unit("hcinode-engine-firstboot.service")
    assert first["Service"]["ExecStart"] == "/usr/local/bin/hcinode engine firstboot"
    assert first["Service"]["Type"] == "oneshot"
    assert "cloud-init.service" in first["Unit"]["After"].split()  # write_files put the seed in place
    assert "postgresql.service" in first["Unit"]["After"].split()
    assert first["Unit"]["ConditionPathExists"] == "!/var/lib/hcinode-engine/engine.yaml"  # once
    serve = unit("hcinode-engine.service")
    assert serve["Service"]["ExecStart"] == "/usr/local/bin/hcinode engine serve"
    assert "hcinode-engine-firstboot.service" in serve["Unit"]["After"].split()
    assert serve["Service"]["CapabilityBoundingSet"] == "CAP_NET_BIND_SERVICE"  # port 443, nothing more
    assert serve["Unit"]["ConditionPathExists"] == "/var/lib/hcinode-engine/engine.yaml"


def test_postgresql_listens_on_the_socket_only() -> None:
    conf = (RECIPE_DIR / "overlay/etc/postgresql/15/main/conf.d/hcinode.conf").read_text()
    assert "listen_addresses = ''" in conf and "jit = off" in conf
    cloud = (RECIPE_DIR / "overlay/etc/cloud/cloud.cfg.d/90-hcinode.cfg").read_text()
    assert "datasource_list: [NoCloud, None]" in cloud
    assert "locale: false" in cloud  # cloud-init must not generate a locale the recipe pruned the sources of


def test_wheelhouse_ships_only_the_recipes_packages(tmp_path: Path) -> None:
    recipe = load_recipe("engine-appliance")
    plan = builder.build_plan(recipe, builder.BuildOptions(build_dir=str(tmp_path / "b"), cache_dir=str(tmp_path)),
                              ["fastapi==0.165.0"])
    [wheels] = [s for s in plan.steps if s.action == "wheelhouse"]
    assert wheels.params["packages"] == ["nodecore", "engine"]
    node = builder.build_plan(load_recipe("node"), builder.BuildOptions(build_dir=str(tmp_path / "b"),
                                                                         cache_dir=str(tmp_path)), [])
    [node_wheels] = [s for s in node.steps if s.action == "wheelhouse"]
    assert node_wheels.params["packages"] == list(builder.PROJECT_PACKAGES)


def test_unknown_dependency_roots_and_packages_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not in pyproject.toml's dependencies: nosuchthing"):
        builder.python_requirements(roots=("fastapi", "nosuchthing"))
    bad = (RECIPE_DIR / "recipe.yaml").read_text().replace("packages: [nodecore, engine]", "packages: [engin]")
    (tmp_path / "overlay").mkdir()
    (tmp_path / "recipe.yaml").write_text(bad)
    from nodecore.errors import InvalidInput

    with pytest.raises(InvalidInput) as err:
        load_recipe(str(tmp_path / "recipe.yaml"))
    assert "not a package of this project: engin" in err.value.report.render_text()
