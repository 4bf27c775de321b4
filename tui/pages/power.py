"""Power: reboot or power off, after a confirmation that names the VMs still running."""

from __future__ import annotations

from typing import Any

import urwid

from nodecore.plan import Plan, Step
from tui.framework import Page, register
from tui.pages import scroll
from tui.widgets import button_row, title

ACTIONS = {
    "reboot": ("Reboot", ("systemctl", "reboot")),
    "poweroff": ("Power off", ("systemctl", "poweroff")),
}


def power_plan(action: str, hostname: str) -> Plan:
    label, argv = ACTIONS[action]
    # one-shot: a journal that says an earlier reboot is "done" must never skip this one
    return Plan(f"{label} {hostname}", (Step(f"{label} the node", argv=argv, one_shot=True),),
                summary={"host": hostname})


def vm_warning(vms: list[str] | None) -> str:
    if vms is None:
        return "libvirt is not running, so no VMs are known to be running."
    if not vms:
        return "No VMs are running."
    names = ", ".join(vms[:8]) + (f" and {len(vms) - 8} more" if len(vms) > 8 else "")
    return (f"{len(vms)} VM(s) are running and will be shut down: {names}. Migrate them first "
            "if they must keep running.")


@register
class PowerPage(Page):
    name = "Power"
    rank = 70
    hotkey = "p"

    def content(self) -> urwid.Widget:
        return scroll([
            title("Power"),
            urwid.Divider(),
            urwid.Text("Reboot or power off this node. You will be asked to confirm; the confirmation "
                       "lists the virtual machines that are still running on it."),
            urwid.Divider(),
            button_row([("Reboot", lambda: self.ask("reboot")), ("Power off", lambda: self.ask("poweroff"))]),
        ])

    def ask(self, action: str) -> None:
        services, hostname = self.ctx.services, self.ctx.facts.hostname

        def look(_report: Any) -> list[str] | None:
            return services.running_vms()

        def confirm(vms: list[str] | None) -> None:
            label = ACTIONS[action][0]
            self.app.apply_plan(power_plan(action, hostname),
                                question=f"{label} {hostname} now? {vm_warning(vms)}", journal_name="tui-power")

        self.ctx.worker.submit(look, on_done=confirm, name="running-vms")
