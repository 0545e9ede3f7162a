"""WebAssembly memories are checked against the isolate's memory budget before they exist.

A module declaring 65,535 pages (4 GB) and running one memory.fill took a worker to 4.1 GB
RSS under a 128 MB limit. Declared sizes are now checked before V8 compiles the module, and
maximums are lowered to what the budget allows, so memory.grow inside wasm fails instead.
"""

import pytest
from hostile_child import run_hostile

from pyruntime import Isolate, JSError

# Generous: the child's own footprint (Python, V8) plus the 128 MB limit, far below a 4 GB fill.
PEAK_BOUND_MB = 128 + 256


def leb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def sleb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        done = (n == 0 and not byte & 0x40) or (n == -1 and byte & 0x40)
        out.append(byte if done else byte | 0x80)
        if done:
            return bytes(out)


def section(section_id: int, payload: bytes) -> bytes:
    return bytes([section_id]) + leb(len(payload)) + payload


def fill_module(initial: int, maximum: int | None = None, grow: int = 0) -> bytes:
    """A module exporting memory `m` and `f()`: memory.grow(grow), then memory.fill of 4 GB - 64 KB."""
    limits = bytes([0]) + leb(initial) if maximum is None else bytes([1]) + leb(initial) + leb(maximum)
    body = b""
    if grow:
        body += b"\x41" + sleb(grow) + b"\x40\x00\x1a"  # i32.const grow; memory.grow; drop
    body += b"\x41\x00\x41\x01\x41" + sleb(-65536) + b"\xfc\x0b\x00"  # memory.fill(0, 1, 0xFFFF0000)
    body = b"\x00" + body + b"\x0b"
    return (b"\x00asm\x01\x00\x00\x00" + section(1, b"\x01\x60\x00\x00") + section(3, b"\x01\x00")
            + section(5, b"\x01" + limits) + section(7, b"\x02\x01f\x00\x00\x01m\x02\x00")
            + section(10, b"\x01" + leb(len(body)) + body))


def js_bytes(module: bytes) -> str:
    return "new Uint8Array([" + ",".join(map(str, module)) + "])"


@pytest.mark.parametrize("how", [
    "new WebAssembly.Instance(new WebAssembly.Module(BYTES)).exports.f()",
    "WebAssembly.instantiate(BYTES).then(r => r.instance.exports.f())",
    "WebAssembly.compile(BYTES).then(m => WebAssembly.instantiate(m)).then(i => i.exports.f())",
    "WebAssembly.instantiateStreaming(new Response(BYTES)).then(r => r.instance.exports.f())",
])
def test_module_declaring_4gb_is_refused_before_it_runs(how):
    report = run_hostile(how.replace("BYTES", js_bytes(fill_module(65535))))
    assert report.returncode == 0, report.stderr[-2000:]
    assert report.outcome["name"] == "RangeError", report.outcome
    assert "declares a memory of 65535 pages" in report.outcome["message"]
    assert report.outcome["after"] == "alive"
    assert report.peak_mb < PEAK_BOUND_MB, report


@pytest.mark.parametrize("maximum", [None, 65535])
def test_growing_inside_wasm_fails_past_the_budget(maximum):
    # memory.grow returns -1 (the maximum was lowered to the budget); the fill then traps.
    source = f"new WebAssembly.Instance(new WebAssembly.Module({js_bytes(fill_module(1, maximum, 65534))})).exports.f()"
    report = run_hostile(source)
    assert report.returncode == 0, report.stderr[-2000:]
    assert report.outcome["name"] == "RuntimeError", report.outcome
    assert "out of bounds" in report.outcome["message"]
    assert report.peak_mb < PEAK_BOUND_MB, report


def test_memory_objects_are_checked_and_capped():
    with Isolate(memory_limit_mb=64, timeout_ms=None) as iso:
        with pytest.raises(JSError, match="initial size: 4294901760 bytes exceed"):
            iso.eval("new WebAssembly.Memory({initial: 65535})")
        with pytest.raises(JSError, match="grow: .* exceed"):
            iso.eval("new WebAssembly.Memory({initial: 1}).grow(2000)")
        # A getter cannot show one size to the check and another to V8: it is read once.
        with pytest.raises(JSError, match="initial size"):
            iso.eval("let n = 0; new WebAssembly.Memory({get initial() { return n++ ? 1 : 65535 }})")
        assert iso.eval("const m = new WebAssembly.Memory({initial: 1, maximum: 4}); m.grow(3); m.buffer.byteLength") \
            == 4 * 65536
        assert iso.eval("new WebAssembly.Memory({initial: 2}) instanceof WebAssembly.Memory") is True


def test_modules_within_the_budget_still_work():
    small = fill_module(1)
    with Isolate(memory_limit_mb=64, timeout_ms=None) as iso:
        iso.eval(f"globalThis.bytes = {js_bytes(small)}; 0")
        assert iso.eval("new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports.m.buffer.byteLength") == 65536
        assert iso.eval("WebAssembly.instantiate(bytes).then(r => r.module instanceof WebAssembly.Module)") is True
        assert iso.eval("WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map(e => e.name).join()") == "f,m"
        # Each instance allocates its memory again: past the budget, instantiation is refused.
        iso.eval(f"globalThis.big = new WebAssembly.Module({js_bytes(fill_module(400))}); 0")
        with pytest.raises(JSError, match="of the module's instance"):
            iso.eval("globalThis.keep = []; for (let i = 0; i < 10; i++) keep.push(new WebAssembly.Instance(big))")
        assert iso.eval("'usable'") == "usable"
