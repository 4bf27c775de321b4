"""`hcinode image build node|engine-appliance [--dry-run] [--release] [--json]`."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping

from image_recipes.builder import (
    IMAGE_VERSION_ENV,
    IMAGE_VERSION_RE,
    Builder,
    BuildOptions,
    build_lock,
    build_plan,
    python_requirements,
)
from image_recipes.recipe import load_recipe
from nodecore import pipeline
from nodecore.cli import add_dry_run, add_json, print_progress
from nodecore.errors import EXIT_OK, InvalidInput
from nodecore.plan import Plan
from nodecore.report import ValidationReport
from nodecore.runner import LocalRunner


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    image = subparsers.add_parser("image", help="build the node ISO, PXE artifacts, engine appliance")
    verbs = image.add_subparsers(dest="image_command", metavar="VERB")
    build = verbs.add_parser("build", help="build an image from a recipe")
    build.add_argument("recipe", help="node, engine-appliance, or a recipe directory / recipe.yaml")
    build.add_argument("--release", action="store_true",
                       help="release compression (squashfs xz -b 1M -Xbcj x86; slower, smaller)")
    build.add_argument("--build-dir", help="where artifacts go (default: <project>/build)")
    build.add_argument("--cache-dir", help="cache of root filesystems and wheels "
                       "(default: $HCINODE_CACHE or /var/cache/hcinode)")
    build.add_argument("--image-version", default="", metavar="VERSION",
                       help="the version the image says it is (default: $HCINODE_IMAGE_VERSION or the "
                       "hcinode package's); a second build with a higher one is an update for tests")
    add_dry_run(build)
    add_json(build)
    build.set_defaults(func=cmd_build)
    validate = verbs.add_parser("validate", help="check a recipe and list every problem")
    validate.add_argument("recipe")
    add_json(validate)
    validate.set_defaults(func=cmd_validate)


def cmd_validate(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe)  # raises InvalidInput listing every problem
    print(json.dumps({"recipe": recipe.name, "valid": True}) if args.json else f"recipe {recipe.name}: valid")
    return EXIT_OK


def image_version(given: str, env: Mapping[str, str]) -> str:
    """--image-version, else $HCINODE_IMAGE_VERSION, else "" (the package's version); numbers only."""
    field, value = ("--image-version", given) if given else (IMAGE_VERSION_ENV, env.get(IMAGE_VERSION_ENV, ""))
    if value and not IMAGE_VERSION_RE.match(value):
        report = ValidationReport("image build")
        report.error(field, f"{value!r} is not a version of numbers", "give e.g. 0.1.1 (2 to 4 numbers and dots)")
        raise InvalidInput(report)
    return value


def cmd_build(args: argparse.Namespace) -> int:
    recipe = load_recipe(args.recipe)
    options = BuildOptions(release=args.release, build_dir=os.path.abspath(args.build_dir) if args.build_dir else "",
                           cache_dir=args.cache_dir or "",
                           image_version=image_version(args.image_version, os.environ))
    requirements: list[str] = []
    if recipe.python.install_project:
        try:
            requirements = python_requirements(roots=recipe.python.dependencies)
        except ValueError as exc:
            report = ValidationReport(args.recipe)
            report.error("python.dependencies", str(exc).split(": ", 1)[1],
                         "name packages of pyproject.toml's dependencies")
            raise InvalidInput(report) from None
    plan = build_plan(recipe, options, requirements)
    if args.dry_run:
        print(plan.to_json() if args.json else plan.render_text())
        return EXIT_OK
    resolved = options.resolved()
    with build_lock(resolved.build_dir, resolved.cache_dir):
        return _execute(recipe.name, plan, args)


def _execute(name: str, plan: Plan, args: argparse.Namespace) -> int:
    builder = Builder()
    # no journal: every step is guarded by its own content-keyed cache check, which (unlike a
    # journal of step ids) notices when a Python file changed or an artifact was deleted
    result = pipeline.apply(plan, LocalRunner(), name=f"image-{name}", actions=builder.actions(),
                            progress=print_progress, log_path=getattr(args, "log_path", None), journal=False)
    if args.json:
        print(json.dumps({"recipe": name, "steps": builder.timings,
                          "executor_seconds": result.timings}, indent=1))
    else:
        total = sum(builder.timings.values())
        print(f"image {name}: built in {total:.0f}s; " +
              ", ".join(f"{k} {v:.0f}s" for k, v in builder.timings.items()))
    return EXIT_OK
