"""Console speed: start time and redraw-after-key time. Prints one JSON object per measurement.

- `tui_start_process_s`: a real `hcinode tui --dry-run` in tmux, from process start to the first
  full screen (python start, imports, facts of this machine, first draw). Target < 1 s.
- `tui_start_inprocess_s`: building the app from captured facts and drawing the first screen.
- `tui_redraw_after_key_ms`: one key (menu move, page switch, typing in a form) plus the full
  redraw at 80x24, median and p95 over many keys. Target < 50 ms.

Commands run through nodecore's LocalRunner. Run: `.venv/bin/python bench/tui.py`.
"""

from __future__ import annotations

import json
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nodecore.runner import LocalRunner  # noqa: E402

FACTS = ROOT / "tests" / "data" / "tui" / "node-facts.json"


def emit(name: str, value: float, unit: str, target: float | None = None, **extra: object) -> None:
    record: dict[str, object] = {"benchmark": name, "value": round(value, 4), "unit": unit}
    if target is not None:
        record["target"] = target
        record["ok"] = value < target
    record.update(extra)
    print(json.dumps(record), flush=True)


def process_start(runs: int = 5) -> None:
    if shutil.which("tmux") is None:
        emit("tui_start_process_s", -1, "s", 1.0, skipped="tmux not installed")
        return
    runner = LocalRunner(default_timeout=20)
    hcinode = Path(sys.executable).with_name("hcinode")
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            name = f"bench{i}"
            sock = str(Path(tmp) / f"tmux{i}.sock")  # a fresh server per run: no exit races
            cmd = (f"HCINODE_STATE_DIR={tmp}/state HCINODE_LOG_DIR={tmp}/log TERM=xterm-256color "
                   f"{shlex.quote(str(hcinode))} tui --dry-run --mode node --lock-timeout 0")
            started = time.monotonic()
            runner.run(["tmux", "-S", sock, "new-session", "-d", "-s", name, "-x", "80", "-y", "24", cmd])
            deadline = started + 15
            while time.monotonic() < deadline:
                screen = runner.run(["tmux", "-S", sock, "capture-pane", "-p", "-t", name], check=False).stdout
                if "Node status" in screen and "Alt-Q Quit" in screen:
                    break
                time.sleep(0.01)
            times.append(time.monotonic() - started)
            runner.run(["tmux", "-S", sock, "kill-server"], check=False)
    emit("tui_start_process_s", statistics.median(times), "s", 1.0, runs=runs, max=round(max(times), 3),
         note="process start to first full screen, polled with tmux capture-pane every 10 ms")


START_SCRIPT = """
import resource, time
t0 = time.monotonic()
from nodecore.cli import build_parser
args = build_parser().parse_args(["tui", "--dry-run", "--mode", "node"])
from tui.cli import build_app
from tui.render import render_text
render_text(build_app(args).root, 80, 24)
own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(time.monotonic() - t0, own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime)
"""


def start_cpu(runs: int = 3) -> None:
    """CPU seconds from interpreter start to the first screen (CLI parser, facts, app, draw).

    On a shared, loaded machine wall time mostly measures waiting for a CPU; CPU time says what
    the console itself costs (python's own start, ~0.03 s, is not included)."""
    runner = LocalRunner(default_timeout=60)
    cpu = []
    for _ in range(runs):
        out = runner.run([sys.executable, "-c", START_SCRIPT], env={"HCINODE_LOG_DIR": tempfile.gettempdir()})
        cpu.append(float(out.stdout.split()[1]))
    emit("tui_start_cpu_s", statistics.median(cpu), "s", 1.0, runs=runs,
         note="user+sys CPU of `hcinode tui --dry-run` up to the first drawn screen")


def in_process() -> None:
    import datetime as dt

    started = time.perf_counter()
    from nodecore.facts import HostFacts
    from tui.app import App
    from tui.framework import Context
    from tui.render import render_text
    from tui.services import Services

    class QuietServices(Services):  # no libvirt/chrony lookups: measure the console itself
        def running_vms(self) -> list[str] | None:
            return []

        def ntp_status(self) -> str:
            return "synchronized"

        def journal(self, unit: str = "", lines: int = 200) -> list[str]:
            return [f"line {i}" for i in range(lines)]

    ctx = Context(facts=HostFacts.load(str(FACTS)), services=QuietServices(), dry_run=True,
                  clock=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    app = App(ctx, mode="node")
    render_text(app.root, 80, 24)
    emit("tui_start_inprocess_s", time.perf_counter() - started, "s", 1.0)

    keys = (["down"] * 8 + ["up"] * 8 + ["meta n", "meta s", "meta l", "meta e", "meta k", "meta t", "meta p"]) * 10
    samples = []
    for key in keys:
        t0 = time.perf_counter()
        app.root.keypress((80, 24), key)
        render_text(app.root, 80, 24)
        samples.append((time.perf_counter() - t0) * 1000)
    app.go("Security")
    for ch in "Typing-in-a-form-1234" * 3:
        t0 = time.perf_counter()
        app.root.keypress((80, 24), ch)
        render_text(app.root, 80, 24)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    emit("tui_redraw_after_key_ms", statistics.median(samples), "ms", 50.0, keys=len(samples),
         p95=round(samples[int(len(samples) * 0.95)], 2), max=round(samples[-1], 2))


if __name__ == "__main__":
    in_process()
    start_cpu()
    process_start()
