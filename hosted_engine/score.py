"""The host score (oVirt's ovirt-hosted-engine-ha numbers, docs/hosted-engine.md "Score").

The best live host starts the engine; a running engine moves only to a host at least
MIGRATION_THRESHOLD better. Penalties are sized so a minor factor never outweighs a major one:
a host whose network tests fail never wins over a healthy one because it has more free memory.
"""

from __future__ import annotations

from dataclasses import dataclass

BASE = 3400
STALE_VM_CONFIG_PENALTY = 1000
NETWORK_PENALTY = 1600  # times the fraction of failed network tests
BRIDGE_PENALTY = 600
CPU_PENALTY = 1000  # rising linearly from CPU_LOAD_MIN to CPU_LOAD_MAX
CPU_LOAD_MIN = 0.4
CPU_LOAD_MAX = 0.9
MEMORY_PENALTY = 400
FAILED_START_PENALTY = 50
FAILED_START_LIMIT = 3  # more failed starts than this: score 0, another host gets its chance
FAILED_START_RESET = 600.0  # seconds after the last failed start the count is forgotten
MIGRATION_THRESHOLD = 800


@dataclass(frozen=True)
class ScoreInputs:
    vm_config_ok: bool = True  # this host read the current vm.xml (False: its copy is stale/unreadable)
    network_ok: float = 1.0  # fraction of network tests that passed (gateway ping ..), 0..1
    bridge_up: bool = True  # the management bridge
    cpu_load: float = 0.0  # 0..1, this host's load without the engine VM's own share
    free_memory: int = 0  # bytes available on this host
    vm_memory: int = 0  # bytes the engine VM needs
    engine_runs_here: bool = False  # free memory is not judged while the VM runs here (it uses it)
    failed_starts: int = 0  # recent failed starts (failed_start_count)
    local_maintenance: bool = False


def cpu_penalty(load: float) -> int:
    if load <= CPU_LOAD_MIN:
        return 0
    if load >= CPU_LOAD_MAX:
        return CPU_PENALTY
    # rounded before truncating (as oVirt truncates): 0.5 gives 200, not 199.99999 -> 199
    return int(round((load - CPU_LOAD_MIN) / (CPU_LOAD_MAX - CPU_LOAD_MIN) * CPU_PENALTY, 6))


def penalties(inputs: ScoreInputs) -> dict[str, int]:
    """Each penalty that applies, by name: the status file shows them, so a technician sees why a
    host scores below 3400 (oVirt's agent only logs the total)."""
    if inputs.local_maintenance:
        return {"local_maintenance": BASE}
    if inputs.failed_starts > FAILED_START_LIMIT:
        return {"failed_starts": BASE}
    network_ok = min(1.0, max(0.0, inputs.network_ok))
    found = {
        "vm_config": 0 if inputs.vm_config_ok else STALE_VM_CONFIG_PENALTY,
        "network": int((1.0 - network_ok) * NETWORK_PENALTY),
        "bridge": 0 if inputs.bridge_up else BRIDGE_PENALTY,
        "cpu": cpu_penalty(inputs.cpu_load),
        "memory": MEMORY_PENALTY if not inputs.engine_runs_here and inputs.free_memory < inputs.vm_memory else 0,
        "failed_starts": FAILED_START_PENALTY * max(0, inputs.failed_starts),
    }
    return {name: points for name, points in found.items() if points}


def compute(inputs: ScoreInputs) -> int:
    """0..3400."""
    return max(0, BASE - sum(penalties(inputs).values()))


def failed_start_count(failures: tuple[float, ...], now: float) -> int:
    """How many failed starts count at monotonic `now`: all of them until FAILED_START_RESET seconds
    have passed since the last one, then none."""
    if not failures or now - max(failures) > FAILED_START_RESET:
        return 0
    return len(failures)
