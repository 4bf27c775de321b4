"""Gluster HCI deploy speed on three namespaced hosts (root). Prints one JSON object per measurement.

    .venv/bin/python bench/gluster.py [--volumes 3] [--runs 1]

- `deploy_s`: `ops.connect` + `ops.deploy` from the spec to three mounted volumes on every host:
  host-key scan and check, preflight, bricks (XFS on loop devices, lvm: false because this
  kernel has no device-mapper), peer probe, volume create + options + start, FUSE mounts.
- `noop_rerun_s`: the same deploy again on the finished cluster (every step skipped by its check).
- `teardown_s`: for reference.

The harness (tests/integration/nshosts.py) is the integration tests' one: each host has its own
glusterd and sshd, and everything goes over real ssh with verified host keys. The machine is
shared, so the load average is printed with each result.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from contextlib import redirect_stderr
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gluster_setup import ops  # noqa: E402
from gluster_setup.spec import parse_spec  # noqa: E402
from tests.integration.nshosts import NsCluster, spec_data  # noqa: E402

WORKDIR = "/tmp/hcinode-gluster-bench"


def emit(name: str, value: float, **extra: object) -> None:
    print(json.dumps({"bench": "gluster", "name": name, "value": round(value, 2), "unit": "s",
                      "loadavg_1m": os.getloadavg()[0], **extra}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--volumes", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print(json.dumps({"bench": "gluster", "skipped": "needs root"}))
        return 0
    names = ["engine", "data", "vmstore"][: args.volumes]
    volumes = [{"name": n, "size": "400M", "thin": False} for n in names]
    os.environ.setdefault("HCINODE_STATE_DIR", os.path.join(WORKDIR, "state"))
    for run in range(args.runs):
        with NsCluster(3, WORKDIR, disks_per_host=len(names), disk_size="512M", prefix="hcigb") as cluster:
            spec, report = parse_spec(spec_data(cluster, cluster.hosts, volumes), "bench spec")
            assert spec is not None, report.render_text()
            known_hosts = os.path.join(cluster.workdir, "known_hosts")
            log = io.StringIO()
            with redirect_stderr(log):  # the per-step progress lines
                started = time.monotonic()
                result = ops.deploy(spec, ops.connect(spec, known_hosts=known_hosts))
                deploy_s = time.monotonic() - started
                started = time.monotonic()
                again = ops.deploy(spec, ops.connect(spec, known_hosts=known_hosts))
                noop_s = time.monotonic() - started
                started = time.monotonic()
                ops.teardown(spec, ops.connect(spec, known_hosts=known_hosts), confirmed=True)
                teardown_s = time.monotonic() - started
            emit("deploy_s", deploy_s, hosts=3, volumes=len(names), run=run, steps_done=len(result.done),
                 phase_seconds=result.phase_seconds, target_s=120)
            emit("noop_rerun_s", noop_s, run=run, changed=again.changed, steps_skipped=len(again.skipped))
            emit("teardown_s", teardown_s, run=run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
