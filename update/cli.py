"""`hcinode update apply|status|list|rollback|prune|confirm-boot`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nodecore.cli import add_dry_run, add_json, run_plan
from nodecore.errors import EXIT_OK, InvalidInput
from nodecore.paths import state_dir
from nodecore.plan import Plan
from nodecore.report import ValidationReport
from nodecore.runner import LocalRunner, Runner
from update.trial import DEFAULT_BOUND

log = logging.getLogger("hcinode.update")

if TYPE_CHECKING:
    from update.facts import UpdateFacts
    from update.plan import UpdatePaths

JOURNAL = "update"
SAFETY_FIELDS = ("engine-vm", "gluster", "maintenance")


@dataclass(frozen=True)
class Prepared:
    """An apply that passed every check: the image's version, its plan, the warnings (--force)."""

    version: str
    plan: Plan
    report: ValidationReport


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("update", help="whole-image A/B updates with a trial boot and rollback")
    verbs = parser.add_subparsers(dest="update_verb", metavar="VERB", required=True)
    apply = verbs.add_parser("apply", help="write an image beside the running one and arm its trial boot")
    apply.add_argument("source", metavar="SOURCE", help="node ISO, squashfs (PXE filesystem.squashfs) or URL")
    apply.add_argument("--checksum", default="", metavar="SHA256|FILE|URL",
                       help="the image's sha256 (default: SOURCE.sha256, SHA256SUMS or manifest.json beside it)")
    apply.add_argument("--allow-downgrade", action="store_true", help="install an older version on purpose")
    apply.add_argument("--force", action="store_true", help="update although a safety check refuses")
    apply.add_argument("--trial-bound", type=float, default=DEFAULT_BOUND, metavar="S",
                       help=f"seconds from boot to healthy before the trial rolls back (default {DEFAULT_BOUND:.0f})")
    add_dry_run(apply)
    add_json(apply)
    apply.set_defaults(func=_apply)
    for name, text in (("status", "running, previous and staged image; the last trial and why"),
                       ("list", "every image on this node")):
        p = verbs.add_parser(name, help=text)
        add_json(p)
        p.set_defaults(func=_status if name == "status" else _list)
    rollback = verbs.add_parser("rollback", help="make the previous image (or --to VERSION) the default")
    rollback.add_argument("--to", default="", metavar="VERSION")
    add_dry_run(rollback)
    add_json(rollback)
    rollback.set_defaults(func=_rollback)
    prune = verbs.add_parser("prune", help="remove old images (keep the running one and one previous)")
    prune.add_argument("--keep", type=int, default=2, metavar="N")
    add_dry_run(prune)
    add_json(prune)
    prune.set_defaults(func=_prune)
    confirm = verbs.add_parser("confirm-boot", help="at boot: commit a healthy trial image or roll it back")
    confirm.add_argument("--once", action="store_true", help="decide once, do not wait for healthy")
    confirm.set_defaults(func=_confirm)


def _paths() -> UpdatePaths:
    from update.plan import UpdatePaths

    return UpdatePaths(os.path.join(state_dir(), "update"))


def _facts(runner: Runner) -> UpdateFacts:
    from update.facts import collect
    from update.images import load_registry

    return collect(runner, load_registry(_paths().registry))


def prepare_apply(runner: Runner, source_text: str, *, checksum: str = "", allow_downgrade: bool = False,
                  force: bool = False, bound: float = DEFAULT_BOUND) -> Prepared:
    """SOURCE -> the apply plan, the image's version and the warnings `--force` let through:
    resolve and verify the source (a URL is downloaded into the work dir), read its manifest, check
    versions, space and safety.
    Raises InvalidInput with every problem; nothing on the node changed. The CLI and the console's
    Update page both call this."""
    from update import plan as update_plan
    from update.facts import collect_cluster
    from update.manifest import ManifestError, squashfs_manifest
    from update.source import resolve, squashfs_of

    paths = _paths()
    seconds: dict[str, float] = {}  # where the time before the plan goes (logged; the e2e phases read it)
    started = time.monotonic()

    def lap(name: str) -> None:
        nonlocal started
        seconds[name] = round(time.monotonic() - started, 1)
        started = time.monotonic()

    report = ValidationReport("update apply")
    source = resolve(source_text, checksum, paths.work, report)
    squashfs = squashfs_of(source, runner, paths.work, report) if source else ""
    lap("source")
    report.raise_if_errors()
    assert source is not None
    try:
        image = squashfs_manifest(runner, squashfs, os.path.join(paths.work, "manifest"))
    except ManifestError as exc:
        report.error("SOURCE", f"{source.given}: {exc}", "give a node image built by `make iso` or `make pxe`")
        raise InvalidInput(report) from None
    lap("manifest")
    try:
        facts = _facts(runner)
    except ManifestError as exc:  # run on a host that is not a node (not an error in the image)
        report.error("running system", str(exc), "run `hcinode update` on an installed hcinode node")
        raise InvalidInput(report) from None
    lap("facts")
    cluster = collect_cluster(runner, state_dir())
    lap("cluster facts")
    log.info("apply prepared: %s", ", ".join(f"{name} {value}s" for name, value in seconds.items()))
    report = update_plan.validate_apply(facts, image, cluster, squashfs_bytes=os.path.getsize(squashfs),
                                        allow_downgrade=allow_downgrade, force=force)
    report.raise_if_errors()
    made = update_plan.apply_plan(facts, image, squashfs=squashfs, source=source.given,
                                  checksum_from=source.checksum_from, paths=paths, bound=bound)
    return Prepared(image.version, made, report)


def unsafe(report: ValidationReport) -> bool:
    """A refusal by the hyperconverged safety checks (then the order that works is worth saying)."""
    return any(p.field in SAFETY_FIELDS for p in report.errors)


def _apply(args: argparse.Namespace) -> int:
    from update.actions import ACTIONS
    from update.safety import ORDER

    runner = LocalRunner()
    try:
        prepared = prepare_apply(runner, args.source, checksum=args.checksum,
                                     allow_downgrade=args.allow_downgrade, force=args.force, bound=args.trial_bound)
    except InvalidInput as exc:
        if unsafe(exc.report):
            print("\n".join(ORDER), file=sys.stderr)
        raise
    for warning in prepared.report.warnings:
        print(warning.render(), file=sys.stderr)
    if run_plan(prepared.plan, runner, args=args, journal_name=JOURNAL, actions=ACTIONS) is not None:
        print(f"image {prepared.version} is written and armed: reboot to try it once "
              f"(`hcinode update status` says how it went)")
    return EXIT_OK


def status_data() -> dict[str, object]:
    """What `update status` and the console's Update page show."""
    from update.images import load_registry, previous_of
    from update.manifest import tree_manifest
    from update.trial import describe, load

    paths = _paths()
    running = tree_manifest("/").version
    registry = load_registry(paths.registry)
    trial = load(paths.trial)
    previous = previous_of(registry, running) if registry else None
    staged = [i.version for i in registry.images if i.state == "staged"] if registry else []
    return {"running": running, "default": registry.default if registry else running,
            "previous": previous.version if previous else "", "staged": staged,
            "trial": trial.to_dict() if trial else None, "last": describe(trial)}


def _status(args: argparse.Namespace) -> int:
    data = status_data()
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
        return EXIT_OK
    print(f"running:  {data['running']}")
    print(f"default:  {data['default']}")
    print(f"previous: {data['previous'] or '-'}")
    print(f"staged:   {', '.join(data['staged']) or '-'}")  # type: ignore[arg-type]
    print(f"last:     {data['last']}")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    from update.images import load_registry

    registry = load_registry(_paths().registry)
    images = [i.to_dict() for i in registry.images] if registry else []
    if args.json:
        print(json.dumps({"default": registry.default if registry else "", "images": images}, indent=2))
        return EXIT_OK
    if not images:
        print("no image list yet: this node runs the image it was installed with")
    for i in images:
        mark = "*" if registry and i["version"] == registry.default else " "
        print(f"{mark} {i['version']:16s} {i['state']:8s} {i['lv']}")
    return EXIT_OK


def prepare_rollback(runner: Runner, to: str = "") -> tuple[str, Plan]:
    """The image a rollback returns to (the previous one, or `to`) and the plan; InvalidInput if none."""
    from update import plan as update_plan

    facts = _facts(runner)
    report = ValidationReport("update rollback")
    target = update_plan.rollback_target(facts, to, report)
    report.raise_if_errors()
    return target, update_plan.rollback_plan(facts, target, _paths())


def _rollback(args: argparse.Namespace) -> int:
    from update.actions import ACTIONS

    runner = LocalRunner()
    to, made = prepare_rollback(runner, args.to)
    if run_plan(made, runner, args=args, journal_name=JOURNAL, actions=ACTIONS, journal=False) is not None:
        print(f"{to} is the default: reboot to run it")
    return EXIT_OK


def _prune(args: argparse.Namespace) -> int:
    from update import plan as update_plan
    from update.actions import ACTIONS

    report = ValidationReport("update prune")
    if args.keep < 1:
        report.error("--keep", f"{args.keep}: the running image is always kept", "give 1 or more")
    report.raise_if_errors()
    runner = LocalRunner()
    facts = _facts(runner)
    if facts.registry is None:
        print("nothing to prune: this node runs the image it was installed with")
        return EXIT_OK
    run_plan(update_plan.prune_plan(facts, _paths(), args.keep), runner, args=args, journal_name=JOURNAL,
             actions=ACTIONS, journal=False)
    return EXIT_OK


def _confirm(args: argparse.Namespace) -> int:
    from agent.state import ClusterFiles
    from update.confirm import confirm_boot
    from update.manifest import tree_manifest

    with open("/proc/sys/kernel/random/boot_id", encoding="utf-8") as f:
        boot_id = f.read().strip()
    decision = confirm_boot(LocalRunner(), _paths(), tree_manifest("/").version, boot_id,
                            ClusterFiles(state_dir()).joined(), once=args.once)
    print(f"{decision.action}: {decision.reason}" if decision.reason else decision.action)
    return EXIT_OK
