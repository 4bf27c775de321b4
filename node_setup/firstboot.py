"""Installer hook: write the node's network and identity into a target root for its first boot.

No NetworkManager runs here: the keyfiles go straight into
`<root>/etc/NetworkManager/system-connections/` (mode 0600) and NetworkManager loads them when the
installed node boots. The files are the same ones a live apply persists after confirmation.
"""

from __future__ import annotations

from node_setup.actions import ACTIONS, read_back_files
from node_setup.model import NodeConfig
from node_setup.plan import plan_into_root
from node_setup.validate import validate
from nodecore import pipeline
from nodecore.executor import ProgressCallback
from nodecore.runner import LocalRunner, Runner


def render_into_root(config: NodeConfig, root: str, runner: Runner | None = None,
                     progress: ProgressCallback | None = None) -> list[str]:
    """Validate, then write keyfiles and identity files under `root`. Returns the paths written.

    Raises InvalidInput (nothing written) when the config has errors, ApplyFailed when a write fails.
    """
    runner = runner or LocalRunner()
    # no journal (nodecore.pipeline): writes into a root are cheap and idempotent
    plan, _ = pipeline.run(name="node-firstboot", validate=lambda: validate(config, source="node settings"),
                           plan=lambda: plan_into_root(config, root), runners=runner, actions=ACTIONS,
                           progress=progress, journal=False, verify=lambda p: read_back_files(runner, p))
    return [str(s.params["path"]) for s in plan.steps if "path" in s.params]
