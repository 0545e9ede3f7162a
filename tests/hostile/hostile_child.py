"""Runs hostile JS in a child process and observes it from outside: exit status, CPU time
(the child's rusage), peak RSS (VmHWM, sampled from /proc while it runs, and reported by
the child itself when it survives), stdout lines and what the call raised."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field

CHILD = textwrap.dedent("""
    import json, re, sys
    import pyruntime
    from pyruntime import _core
    config = json.loads(sys.argv[1])
    if config["guard"]:
        _core.enable_process_guard(config["guard"]["allowance_mb"] << 20, config["guard"]["grace_ms"])
    iso = pyruntime.Isolate(memory_limit_mb=config["memory_mb"], timeout_ms=config["timeout_ms"],
                            cpu_limit_ms=config["cpu_ms"])
    try:
        value = iso.eval(config["source"])
        outcome = {"status": "ok", "value": repr(value)[:200]}
    except pyruntime.JSError as e:
        outcome = {"status": "JSError", "name": e.name, "message": str(e)[:1000]}
    except Exception as e:
        outcome = {"status": type(e).__name__, "message": str(e)[:1000]}
    outcome["after"] = pyruntime.Isolate().eval("'alive'")
    with open("/proc/self/status") as status:
        outcome["peak_mb"] = int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) // 1024
    print(json.dumps({"outcome": outcome}), flush=True)
""")


@dataclass
class ChildReport:
    returncode: int
    cpu_s: float
    wall_s: float
    peak_mb: int
    outcome: dict | None
    log: list[dict] = field(default_factory=list)  # JSON lines on stdout
    stdout: str = ""
    stderr: str = ""


def _peak_mb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def run_hostile(source: str, *, memory_mb: int = 128, timeout_ms: float | None = None,
                cpu_ms: float | None = 1000, guard: dict | None = None, timeout_s: float = 180) -> ChildReport:
    """Evaluates `source` in a fresh child process (a V8 abort kills only the child)."""
    config = {"source": source, "memory_mb": memory_mb, "timeout_ms": timeout_ms, "cpu_ms": cpu_ms, "guard": guard}
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    peak = 0
    outputs: dict[str, bytes] = {}

    def read(name: str) -> None:
        outputs[name] = getattr(proc, name).read()

    readers = [threading.Thread(target=read, args=(name,)) for name in ("stdout", "stderr")]
    for reader in readers:
        reader.start()
    # wait4 gives this child's own rusage; VmHWM is sampled meanwhile, since a killed child
    # cannot report it (and ru_maxrss would carry the forking parent's peak).
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, _peak_mb(proc.pid))
        if time.monotonic() - start > timeout_s:
            proc.kill()
        time.sleep(0.01)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join()
    stdout = outputs["stdout"].decode(errors="replace")
    stderr = outputs["stderr"].decode(errors="replace")
    log, outcome = [], None
    for line in stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "outcome" in record:
            outcome = record["outcome"]
            peak = max(peak, outcome["peak_mb"])
        else:
            log.append(record)
    return ChildReport(proc.returncode, usage.ru_utime + usage.ru_stime, wall, peak, outcome, log, stdout, stderr)
