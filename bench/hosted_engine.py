"""Hosted-engine deploy time by stage on three namespaced hosts (root; boots the engine VM under TCG).
Prints one JSON object.

    .venv/bin/python bench/hosted_engine.py

It takes /tmp/hcinode-vm.lock itself (the machine runs one VM test at a time): do not wrap it in
`flock` (set HCINODE_VM_LOCK_HELD=1 when the caller holds the lock already).

The test bed is the integration test's (tests/integration/hosted_engine_hosts.py: libvirtd, virtlogd
and sanlock per host, the replica 3 engine volume); the timings are the deploy's own, per step,
from `hcinode hosted-engine deploy SPEC --json` run in host 1's namespaces, grouped into the
issue's stages:

- `preflight_s`: the command's wall time minus its apply time (CLI start, spec, the read-only probes);
- `disk_copy_s`: `qemu-img convert` of the appliance onto the Gluster volume, keep, resize;
- `layout_s`: lockspace, lease, metadata, vm.xml, deployment.json, CA, seed, joining the lockspace;
- `boot_s`: define + start (libvirt takes the VM lease);
- `health_s`: from the start to the engine's /health answering (the guest's boot under TCG and the
  engine's first boot: database, keys);
- `enrol_s`: the join token from the admin API and agent/join;
- `finish_s`: the seed detached and removed, the CA key removed, the HA agent started.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# step title prefixes -> stage (hosted_engine/plan.py's titles)
STAGES = (
    ("disk_copy_s", ("Download the engine appliance", "Keep the downloaded", "Check the appliance",
                     "Copy the appliance", "Keep the copied", "Resize the engine disk")),
    ("boot_s", ("Define the libvirt domain", "Start the engine VM")),
    ("health_s", ("Wait for the engine's health",)),
    ("enrol_s", ("Enrol this host",)),
    ("finish_s", ("Detach the seed", "Remove the seed", "Remove the CA key", "Start the hosted-engine HA agent")),
)


def stages(timings: Mapping[str, float], wall_s: float, apply_s: float) -> dict[str, float]:
    """The deploy's per-step timings grouped by stage (everything else is `layout_s`). Pure."""
    out = {"preflight_s": round(max(wall_s - apply_s, 0.0), 1)}
    out.update({name: 0.0 for name, _ in STAGES})
    out["layout_s"] = 0.0
    for title, seconds in timings.items():
        stage = next((name for name, prefixes in STAGES if title.startswith(prefixes)), "layout_s")
        out[stage] = round(out[stage] + seconds, 1)
    out["total_s"] = round(wall_s, 1)
    return out


def main() -> int:
    if os.geteuid() != 0:
        print(json.dumps({"bench": "hosted_engine", "skipped": "needs root"}))
        return 0
    from tests.integration import hosted_engine_hosts as he

    with he.vm_lock(), he.cluster(he.WORKDIR + "-bench") as c:
        he.make_volume(c)
        spec = he.write_he_spec(c)
        started = time.monotonic()
        result = c.hosts[0].hcinode("hosted-engine", "deploy", spec, "--json", timeout=3600)
        wall = time.monotonic() - started
        if result.returncode != 0:
            print(json.dumps({"bench": "hosted_engine", "error": result.stderr[-2000:]}))
            return 1
        out = json.loads(result.stdout)
        again = time.monotonic()
        c.hosts[0].hcinode("hosted-engine", "deploy", spec, "--json", timeout=600, check=True)
        report = {"bench": "hosted_engine", "virtualization": "TCG", **stages(out["timings"], wall, out["seconds"]),
                  "noop_rerun_s": round(time.monotonic() - again, 1), "steps_done": out["done"],
                  "loadavg": os.getloadavg()[0]}
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
