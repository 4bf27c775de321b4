"""Hyperconverged safety: a node that runs the engine VM, has Gluster heals pending, or is joined
and not in maintenance is not updated (exit 2 with the reason) unless --force; ORDER says what works."""

from __future__ import annotations

from nodecore.report import ValidationReport
from update.facts import ClusterFacts

ORDER = (
    "the order that works:",
    "  1. hcinode hosted-engine maintenance local     (the engine VM moves to another host)",
    "  2. hcinode engine hosts maintenance HOST       (on the engine: this host enters maintenance)",
    "  3. hcinode gluster status SPEC                 (wait until no entries are pending heal)",
    "  4. hcinode update apply SOURCE",
    "  5. reboot                                      (the new image boots once, on trial)",
    "  6. hcinode update status                       (wait for: reached healthy and is the default)",
    "  7. hcinode engine hosts activate HOST; hcinode hosted-engine maintenance none",
)


def check(report: ValidationReport, facts: ClusterFacts, *, force: bool) -> None:
    """Each refusal is an error (a warning under --force: said, not enforced)."""
    add = report.warning if force else report.error
    hint = "see the order below, or --force to update anyway"
    if facts.engine_vm_here:
        add("engine-vm", "this node runs the hosted engine VM: rebooting it stops the engine", hint)
    for volume, entries in facts.heal_pending:
        add("gluster", f"volume {volume} has {entries} entries pending heal: a reboot now can lose the "
            "only good copy", hint)
    if facts.joined and facts.agent_status != "Maintenance":
        add("maintenance", f"this node is joined and not in maintenance (the engine says "
            f"{facts.agent_status or 'nothing yet'})", hint)
    for note in facts.notes:
        report.warning("safety", note)
