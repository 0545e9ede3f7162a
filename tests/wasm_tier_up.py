"""JS whose `tierUp(functions, ops, seed)` makes a WebAssembly module of `functions` large
functions (a loop of `ops + seed` multiply-adds each; a new `seed` makes a module V8 has not
compiled yet) and calls each: V8 then compiles them again with TurboFan on its worker threads,
about 70 ms of CPU per 400 KB function here, mostly after the call returned."""

import os
import time
from pathlib import Path

TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def v8_threads_cpu_s(pid: int | str = "self", descendants: bool = False) -> float:
    """CPU time of V8's worker threads (where the tier-up runs) in process `pid`, and with
    `descendants` in the processes it started (a server's engine processes)."""
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().startswith("V8 "):
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) * TICK_S  # utime, stime
            children = (task / "children").read_text().split() if descendants else []
        except FileNotFoundError:  # a thread or process that ended
            continue
        total += sum(v8_threads_cpu_s(child, descendants=True) for child in children)
    return total



def v8_threads_settled_cpu_s(pid: int | str = "self", descendants: bool = False, quiet_s: float = 1.0) -> float:
    """Waits until V8's worker threads (as `v8_threads_cpu_s` counts them) have spent nothing
    for `quiet_s`, and returns their CPU time then: the work set off so far is done, whatever
    it came to on this machine and however busy it is (a runnable thread gets some CPU in
    every scheduling period, far under `quiet_s`). Gives up after two minutes."""
    last, since = v8_threads_cpu_s(pid, descendants), time.monotonic()
    deadline = since + 120
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        time.sleep(0.05)
        now = v8_threads_cpu_s(pid, descendants)
        if now != last:
            last, since = now, time.monotonic()
    return last


TIER_UP_JS = r"""
function leb(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((size, part) => size + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

// (func (param i32) (result i32) (local i32)
//   (loop (local.set 1 (i32.add (i32.mul (local.get 1) 3) (local.get 0))) ... `ops` times
//         (br_if 0 (local.tee 0 (i32.sub (local.get 0) 1))))
//   (local.get 1))
function body(ops) {
  const step = [0x20, 1, 0x41, 3, 0x6c, 0x20, 0, 0x6a, 0x21, 1];
  const code = new Uint8Array(5 + step.length * ops + 13);
  code.set([1, 1, 0x7f, 0x03, 0x40], 0);
  for (let i = 0; i < ops; i++) code.set(step, 5 + i * step.length);
  code.set([0x20, 0, 0x41, 1, 0x6b, 0x22, 0, 0x0d, 0, 0x0b, 0x20, 1, 0x0b], 5 + ops * step.length);
  return concat([leb(code.length), code]);
}

function bigModule(functions, ops) {
  const section = (id, bytes) => concat([[id], leb(bytes.length), bytes]);
  const exports = [leb(functions)];
  for (let i = 0; i < functions; i++) {
    const name = [...`f${i}`].map((c) => c.charCodeAt(0));
    exports.push([name.length, ...name, 0], leb(i));
  }
  const code = body(ops);
  return concat([
    [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    section(1, [1, 0x60, 1, 0x7f, 1, 0x7f]),  // one type: (i32) -> i32
    section(3, concat([leb(functions), new Uint8Array(functions)])),
    section(7, concat(exports)),
    section(10, concat([leb(functions), ...new Array(functions).fill(code)])),
  ]);
}

function tierUp(functions = 20, ops = 40000, seed = 0) {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bigModule(functions, ops + seed)));
  let sum = 0;
  for (let i = 0; i < functions; i++) sum += instance.exports["f" + i](50);
  return sum;
}
"""
