"""The operations behind the CLI verbs (and the tests and bench): connect, deploy, expand, teardown.

Each one is: verify host keys -> preflight (read-only, all problems at once) -> plan -> apply
(nodecore.pipeline, phase by phase) -> verify (the volume info read back).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

from gluster_setup.apply import ApplyResult, apply, print_progress, ssh_runners, verify_host_keys
from gluster_setup.plan import DeployPlan, deploy_plan, expand_plan, teardown_plan
from gluster_setup.preflight import preflight
from gluster_setup.spec import GlusterSpec, HostSpec
from gluster_setup.status import ClusterStatus, Volume, collect, parse_volume_info
from nodecore.errors import HcinodeError, InvalidInput
from nodecore.executor import Progress
from nodecore.pipeline import VerifyFailed
from nodecore.report import ValidationReport
from nodecore.runner import LocalRunner, Runner

ProgressCallback = Callable[[Progress], None]


def connect(spec: GlusterSpec, *, local: Runner | None = None, known_hosts: str | None = None,
            multiplex: bool = True) -> dict[str, Runner]:
    """ssh runners for every host, after checking each host key against the spec."""
    path = verify_host_keys(spec, local or LocalRunner(), known_hosts)
    control = os.path.join(os.path.dirname(path) or ".", "ssh-control") if multiplex else None
    return ssh_runners(spec, path, inner=local, control_dir=control)


def deploy(spec: GlusterSpec, runners: Mapping[str, Runner], *, progress: ProgressCallback = print_progress,
           run_preflight: bool = True) -> ApplyResult:
    if run_preflight:
        preflight(spec, runners).raise_if_errors()
    plan = deploy_plan(spec)
    result = apply(plan, runners, progress)
    verify(spec, runners, plan, spec.hosts)
    return result


def read_back(spec: GlusterSpec, runners: Mapping[str, Runner], hosts: Sequence[HostSpec]) -> ValidationReport:
    """The pipeline's verify for gluster: the volume info read back shows every volume of the spec
    started, with a brick on each of `hosts`."""
    report = ValidationReport("gluster volume info")
    found = volume_info(spec, runners)
    for vol in spec.volumes:
        have = found.get(vol.name)
        if have is None:
            report.error(f"volumes.{vol.name}", "is not in `gluster volume info`")
            continue
        if have.status != "Started":
            report.error(f"volumes.{vol.name}", f"is {have.status or 'not started'}, not Started")
        bricked = {b.name.split(":")[0] for b in have.bricks}
        missing = [h.address for h in hosts if h.address not in bricked]
        if missing:
            report.error(f"volumes.{vol.name}", f"has no brick on {', '.join(missing)}")
    return report


def verify(spec: GlusterSpec, runners: Mapping[str, Runner], plan: DeployPlan,
           hosts: Sequence[HostSpec]) -> None:
    report = read_back(spec, runners, hosts)
    if not report.ok:
        raise VerifyFailed(plan.combined(), report)


def volume_info(spec: GlusterSpec, runners: Mapping[str, Runner]) -> dict[str, Volume]:
    """`gluster volume info` as the first host of the spec sees it, by volume name."""
    first = spec.hosts[0].ssh_name
    info = runners[first].run(["gluster", "volume", "info", "--xml"], check=False, timeout=30)
    if not info.ok:
        raise HcinodeError(f"cannot read the volumes on {first}: {info.stderr.strip() or info.stdout.strip()}")
    return {v.name: v for v in parse_volume_info(info.stdout)}


def bricked_addresses(spec: GlusterSpec, runners: Mapping[str, Runner]) -> dict[str, set[str]]:
    """Per volume of the spec: addresses of the hosts that hold one of its bricks (asked on the first host)."""
    found = {name: {b.name.split(":")[0] for b in v.bricks} for name, v in volume_info(spec, runners).items()}
    return {v.name: found.get(v.name, set()) for v in spec.volumes}


def plan_expand(spec: GlusterSpec, runners: Mapping[str, Runner], new: Sequence[str] = ()) -> DeployPlan | None:
    """The expand plan, or None when every spec host already holds a brick of every volume.

    A host missing from any volume counts as new, so a re-run after an expand that failed
    halfway (some volumes extended, some not) completes it; finished steps skip by their checks.
    """
    report = ValidationReport("expand")
    if not new:
        have = bricked_addresses(spec, runners)
        new = [h.address for h in spec.hosts if any(h.address not in hosts for hosts in have.values())]
        if spec.hosts[0].address in new:
            report.error("hosts[0]", f"{spec.hosts[0].address} holds no brick: the first host must be an "
                         "existing member", "list the existing hosts first, the new ones after them")
    if not new and report.ok:
        return None
    if len(new) % spec.replica_set:
        report.error("hosts", f"{len(new)} new host(s): expand adds whole replica sets of {spec.replica_set}")
    report.raise_if_errors()
    return expand_plan(spec, new)


def expand(spec: GlusterSpec, runners: Mapping[str, Runner], new: Sequence[str] = (), *,
           progress: ProgressCallback = print_progress) -> ApplyResult:
    plan = plan_expand(spec, runners, new)
    if plan is None:
        return ApplyResult()
    added = [h for h in spec.hosts if h.ssh_name in plan.phases[0].plans]
    preflight(spec, runners, added).raise_if_errors()
    result = apply(plan, runners, progress)
    verify(spec, runners, plan, added)
    return result


def teardown(spec: GlusterSpec, runners: Mapping[str, Runner], *, confirmed: bool,
             progress: ProgressCallback = print_progress) -> ApplyResult:
    if not confirmed:
        report = ValidationReport("teardown")
        report.error("--yes-destroy-data", "teardown deletes the volumes and wipes every brick",
                     "pass --yes-destroy-data to confirm")
        raise InvalidInput(report)
    return apply(teardown_plan(spec), runners, progress)


def status(spec: GlusterSpec, runners: Mapping[str, Runner]) -> ClusterStatus:
    return collect(runners, [h.ssh_name for h in spec.hosts])
