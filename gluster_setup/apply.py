"""Apply a DeployPlan: ssh runners with verified host keys, the named actions, parallel phases.

Host keys: a host's key is accepted only when its SHA256 fingerprint equals the one in the spec
(or when it is already in the spec's known_hosts file). The scanned keys that match are written
to a known_hosts file that every ssh call then uses with StrictHostKeyChecking=yes.

State lives on the hosts: every step's check reads it, so no journal is kept (a journal could
claim a step done on a host that was rebuilt since). A re-run after a failure re-checks and
continues where the hosts actually are.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gluster_setup.plan import DeployPlan, Phase
from gluster_setup.spec import GlusterSpec
from nodecore import pipeline
from nodecore.errors import ApplyFailed, CommandFailed
from nodecore.executor import Action, Progress
from nodecore.paths import state_dir
from nodecore.report import ValidationReport
from nodecore.runner import HostRunner, Runner

log = logging.getLogger("hcinode.gluster")

# ---------------------------------------------------------------- host keys and runners


def default_known_hosts() -> str:
    return os.path.join(state_dir(), "gluster", "known_hosts")


def fingerprint(local: Runner, key_line: str) -> str:
    """SHA256 fingerprint of one known_hosts/keyscan line (`ssh-keygen -lf -`)."""
    result = local.run(["ssh-keygen", "-l", "-E", "sha256", "-f", "-"], stdin=key_line + "\n", check=False)
    parts = result.stdout.split()
    return parts[1] if result.ok and len(parts) > 1 else ""


def known_hosts_name(name: str, port: int) -> str:
    return name if port == 22 else f"[{name}]:{port}"


def verify_host_keys(spec: GlusterSpec, local: Runner, path: str | None = None) -> str:
    """Scan each host's keys, keep those matching the spec's fingerprints; returns the known_hosts path.

    Raises InvalidInput naming every host whose key does not match (nothing has been changed then).
    """
    report = ValidationReport("ssh host keys")
    lines: list[str] = []
    existing = spec.ssh.known_hosts
    for i, host in enumerate(spec.hosts):
        name = host.ssh_name
        if not host.host_key:
            found = existing and local.run(["ssh-keygen", "-F", known_hosts_name(name, host.ssh_port), "-f", existing],
                                           check=False).ok
            if not found:
                report.error(f"hosts[{i}].host_key", f"{name} has no fingerprint in the spec and is not in "
                             f"{existing or 'a known_hosts file'}", "add host_key: SHA256:...")
            continue
        # ssh.connect_timeout, not a fixed 5 s: a slow or loaded host (a TCG VM: 6 s measured) answers
        # the banner but sends its keys after ssh-keyscan gave up, which looked like "no answer"
        wait = spec.ssh.connect_timeout
        scan = local.run(["ssh-keyscan", "-T", str(wait), "-p", str(host.ssh_port), name], check=False,
                         timeout=4 * wait + 30)
        offered: list[str] = []
        matched = False
        for line in scan.stdout.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            fp = fingerprint(local, line)
            offered.append(fp)
            if fp == host.host_key:
                lines.append(line)
                matched = True
        if not offered:
            report.error(f"hosts[{i}]", f"cannot reach sshd on {name}:{host.ssh_port}",
                         (scan.stderr.strip().splitlines() or ["no answer"])[-1])
        elif not matched:
            report.error(f"hosts[{i}].host_key", f"{name} offers {', '.join(offered)}, none is {host.host_key}",
                         "check the fingerprint on the host's console (ssh-keygen -lf /etc/ssh/ssh_host_*.pub); "
                         "a mismatch can mean a man in the middle")
    report.raise_if_errors()
    if not lines:
        return existing
    target = path or default_known_hosts()
    text = "".join(line + "\n" for line in lines)
    if existing and os.path.exists(existing):
        with open(existing, encoding="utf-8") as f:
            text = f.read().rstrip("\n") + "\n" + text
    local.write_file(target, text, 0o600)
    return target


def ssh_runners(spec: GlusterSpec, known_hosts: str, inner: Runner | None = None,
                control_dir: str | None = None) -> dict[str, Runner]:
    """One HostRunner.ssh per host (StrictHostKeyChecking=yes with `known_hosts`).

    With `control_dir`, ssh multiplexes every command to a host over one connection: a deploy
    runs hundreds of short commands and a new ssh handshake for each costs more than the command.
    """
    return {h.ssh_name: HostRunner.ssh(h.ssh_name, user=spec.ssh.user, known_hosts=known_hosts,
                                       identity=spec.ssh.identity or None, port=h.ssh_port, inner=inner,
                                       connect_timeout=spec.ssh.connect_timeout, control_dir=control_dir)
            for h in spec.hosts}


def default_control_dir() -> str:
    return os.path.join(state_dir(), "gluster", "ssh")


# ---------------------------------------------------------------- actions


def _fstab_lines(runner: Runner, fstab: str) -> list[str]:
    result = runner.run(["sh", "-c", 'cat "$1" 2>/dev/null || true', "sh", fstab])
    return result.stdout.splitlines()


def _set_fstab(runner: Runner, fstab: str, mountpoint: str, entry: str | None) -> None:
    """Replace (or with entry None, remove) the line that mounts `mountpoint`; write only on change."""
    lines = _fstab_lines(runner, fstab)
    kept = [line for line in lines
            if line.lstrip().startswith("#") or len(line.split()) < 2 or line.split()[1] != mountpoint]
    if entry is not None:
        kept.append(entry)
    if kept != lines:
        runner.write_file(fstab, "".join(line + "\n" for line in kept), 0o644)


def _is_mounted(runner: Runner, mountpoint: str) -> bool:
    return runner.run(["mountpoint", "-q", mountpoint], check=False).ok


def mount_brick(runner: Runner, params: Mapping[str, Any]) -> None:
    device, mountpoint = str(params["device"]), str(params["mountpoint"])
    uuid = runner.run(["blkid", "-p", "-o", "value", "-s", "UUID", device]).stdout.strip()
    if not uuid:
        raise RuntimeError(f"{device} has no file system UUID")
    options = str(params["options"])
    # by UUID: device names change across boots, the file system's UUID does not
    _set_fstab(runner, str(params["fstab"]), mountpoint, f"UUID={uuid} {mountpoint} xfs {options} 0 0")
    runner.run(["mkdir", "-p", mountpoint])
    if not _is_mounted(runner, mountpoint):
        # the device path, not UUID=: a host without udev has no /dev/disk/by-uuid links to resolve it
        runner.run(["mount", "-t", "xfs", "-o", options, device, mountpoint])


def mount_volume(runner: Runner, params: Mapping[str, Any]) -> None:
    source, mountpoint = str(params["source"]), str(params["mountpoint"])
    options = "defaults,_netdev"
    if params.get("backup_volfile_servers"):
        options += f",backup-volfile-servers={params['backup_volfile_servers']}"
    _set_fstab(runner, str(params["fstab"]), mountpoint, f"{source} {mountpoint} glusterfs {options} 0 0")
    runner.run(["mkdir", "-p", mountpoint])
    if not _is_mounted(runner, mountpoint):
        runner.run(["mount", "-t", "glusterfs", "-o", options.replace("defaults,", ""), source, mountpoint],
                   timeout=120)


def unmount(runner: Runner, params: Mapping[str, Any]) -> None:
    mountpoint = str(params["mountpoint"])
    if _is_mounted(runner, mountpoint):
        result = runner.run(["umount", mountpoint], check=False, timeout=60)
        if not result.ok:  # a FUSE client whose servers are gone can hang a plain umount
            runner.run(["umount", "-l", mountpoint], timeout=60)
    _set_fstab(runner, str(params["fstab"]), mountpoint, None)


def _poll(what: str, timeout: float, probe: Callable[[], bool], interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if probe():
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def write_option_group(runner: Runner, params: Mapping[str, Any]) -> None:
    """The host's base group file (virt) with our options replacing or adding keys."""
    directory = "/var/lib/glusterd/groups"
    base = runner.run(["cat", f"{directory}/{params['base']}"]).stdout
    options = {str(k): str(v) for k, v in dict(params["options"]).items()}
    drop = {str(k) for k in params.get("drop", ())}  # base keys glusterd refuses on this volume type
    lines = []
    for line in base.splitlines():
        key = line.split("=", 1)[0].strip()
        if not key or key.startswith("#") or key in options or key in drop:
            continue
        lines.append(line.strip())
    lines += [f"{k}={v}" for k, v in options.items()]
    runner.write_file(f"{directory}/{params['group']}", "".join(line + "\n" for line in lines), 0o644)


def wait_peers(runner: Runner, params: Mapping[str, Any]) -> None:
    peers = [str(p) for p in params["peers"]]

    def connected() -> bool:
        out = runner.run(["gluster", "pool", "list"], check=False).stdout
        up = {line.split()[1] for line in out.splitlines()[1:] if len(line.split()) >= 3
              and line.split()[-1] == "Connected"}
        return all(p in up for p in peers)

    _poll(f"peers {', '.join(peers)} to connect", float(params.get("timeout", 120)), connected)


def rebalance(runner: Runner, params: Mapping[str, Any]) -> None:
    volume = str(params["volume"])
    status = runner.run(["gluster", "volume", "rebalance", volume, "status"], check=False)
    if "in progress" not in status.stdout:
        runner.run(["gluster", "--mode=script", "volume", "rebalance", volume, "start"])

    def finished() -> bool:
        out = runner.run(["gluster", "volume", "rebalance", volume, "status"], check=False).stdout
        if "failed" in out:
            raise RuntimeError(f"rebalance of {volume} failed:\n{out}")
        return "completed" in out and "in progress" not in out and "not started" not in out

    _poll(f"rebalance of {volume}", float(params.get("timeout", 600)), finished, interval=2.0)


ACTIONS: dict[str, Action] = {"write_option_group": write_option_group, "mount_brick": mount_brick,
                              "mount_volume": mount_volume, "unmount": unmount, "wait_peers": wait_peers,
                              "rebalance": rebalance}


# ---------------------------------------------------------------- parallel execution

_print_lock = threading.Lock()


def print_progress(p: Progress) -> None:
    if p.state != "running":
        with _print_lock:
            print(p.line(), file=sys.stderr, flush=True)


@dataclass
class ApplyResult:
    done: list[str] = field(default_factory=list)  # step titles
    skipped: list[str] = field(default_factory=list)
    phase_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.done)

    def to_dict(self) -> dict[str, Any]:
        return {"changed": self.changed, "done": self.done, "skipped": len(self.skipped),
                "phase_seconds": self.phase_seconds}


def _run_phase(phase: Phase, runners: Mapping[str, Runner], result: ApplyResult,
               progress: Callable[[Progress], None]) -> None:
    def one(name: str) -> None:
        # no journal (nodecore.pipeline): every step checks the live cluster itself
        out = pipeline.apply(phase.plans[name], runners, name=f"gluster-{phase.name}-{name}", actions=ACTIONS,
                             progress=progress, journal=False)
        with _print_lock:
            result.done.extend(s.title for s in out.done)
            result.skipped.extend(s.title for s in out.skipped)

    names = sorted(phase.plans)
    if len(names) == 1:
        one(names[0])
        return
    failures: list[BaseException] = []
    # one thread per host: the work is waiting on ssh and the hosts' disks, not our CPU
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        futures = {pool.submit(one, name): name for name in names}
        for future, _name in futures.items():
            exc = future.exception()
            if exc is not None:
                failures.append(exc)
    if failures:
        # every host finished what it could; report the first failure (the others are in the log)
        for extra in failures[1:]:
            log.error("also failed: %s", extra)
        raise failures[0]


def apply(plan: DeployPlan, runners: Mapping[str, Runner],
          progress: Callable[[Progress], None] = print_progress) -> ApplyResult:
    result = ApplyResult()
    for phase in plan.phases:
        started = time.monotonic()
        log.info("phase %s on %s", phase.name, ", ".join(sorted(phase.plans)))
        try:
            _run_phase(phase, runners, result, progress)
        except ApplyFailed:
            raise
        except (CommandFailed, RuntimeError) as exc:
            raise ApplyFailed(0, f"phase {phase.name}", exc) from exc
        result.phase_seconds[phase.name] = round(time.monotonic() - started, 2)
    return result


