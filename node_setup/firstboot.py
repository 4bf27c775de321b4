"""Installer hook: write the node's network and identity into a target root for its first boot.

No NetworkManager runs here: the keyfiles go straight into
`<root>/etc/NetworkManager/system-connections/` (mode 0600) and NetworkManager loads them when the
installed node boots. The files are the same ones a live apply persists after confirmation.
"""

from __future__ import annotations

from node_setup.actions import ACTIONS
from node_setup.model import NodeConfig
from node_setup.plan import plan_into_root
from node_setup.validate import validate
from nodecore.executor import Executor, ProgressCallback
from nodecore.runner import LocalRunner, Runner


def render_into_root(config: NodeConfig, root: str, runner: Runner | None = None,
                     progress: ProgressCallback | None = None) -> list[str]:
    """Validate, then write keyfiles and identity files under `root`. Returns the paths written.

    Raises InvalidInput (nothing written) when the config has errors, ApplyFailed when a write fails.
    """
    validate(config, source="node settings").raise_if_errors()
    plan = plan_into_root(config, root)
    Executor(runner or LocalRunner(), actions=ACTIONS, progress=progress).execute(plan)
    return [str(s.params["path"]) for s in plan.steps if "path" in s.params]
