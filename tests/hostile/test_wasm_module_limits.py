"""What one WebAssembly module may declare (ext/wasm_limits.h), checked before V8 reads it.

V8 compiles a module, and makes an instance's tables, in steps that termination cannot
stop. Before these bounds, on V8 10.2 under a 50 ms CPU limit: a 29-byte module declaring
three tables of 10M entries ran V8 out of heap and aborted the process; a 7 MB module of a
million functions took 1.5 s of CPU and 500 MB to compile; 15 MB of element segments took
0.7 s, and a module of as many types, imports, globals and exports as V8 allows 0.45 s:
about the process guard's grace. Each case runs in a child process (a V8 abort would
end only it), which then makes a fresh isolate.
"""

import pytest
from hostile_child import run_hostile
from test_wasm_memory import PEAK_BOUND_MB, js_bytes, leb, section

from pyruntime import Isolate, JSError

HEADER = b"\x00asm\x01\x00\x00\x00"
TYPES = section(1, b"\x01\x60\x00\x00")  # one type: () -> ()


def tables(*sizes: int) -> bytes:
    """A module declaring funcref tables of these initial sizes."""
    return HEADER + section(4, leb(len(sizes)) + b"".join(b"\x70\x00" + leb(size) for size in sizes))


def functions(count: int) -> bytes:
    """A module of `count` empty functions."""
    return (HEADER + TYPES + section(3, leb(count) + b"\x00" * count)
            + section(10, leb(count) + b"\x02\x00\x0b" * count))




def with_zeros(head: bytes, zeros: int, call: str = "new WebAssembly.Module") -> str:
    """JS that makes a module of `head` and `zeros` zero bytes (too long for a child's argv as a literal)."""
    return f"const u = new Uint8Array({len(head) + zeros}); u.set({list(head)}); {call}(u)"


def declaring(section_id: int, count: int) -> str:
    """JS making a module whose section `section_id` declares `count` items (and holds only zeros
    after the count: the count alone is refused)."""
    return with_zeros(HEADER + bytes([section_id]) + leb(len(leb(count)) + count) + leb(count), count)


# A section header claiming one byte more than the element section may have.
ELEMENT_SECTION_HEAD = HEADER + bytes([9]) + leb(2**20 + 1)


def compiles(module: bytes) -> str:
    return f"new WebAssembly.Instance(new WebAssembly.Module({js_bytes(module)})); 'made'"


@pytest.mark.parametrize(("source", "message"), [
    (compiles(tables(10_000_000, 10_000_000, 10_000_000)),
     "declares tables of 30000000 entries in all, more than the 1000000 a module may have"),
    (compiles(tables(500_000, 500_001)), "declares tables of 1000001 entries in all"),
    (declaring(1, 100_001), "declares 100001 types, more than the 100000 a module may have"),
    (declaring(2, 10_001), "declares 10001 imports, more than the 10000 a module may have"),
    (declaring(3, 100_001), "declares 100001 functions, more than the 100000 a module may have"),
    (declaring(6, 100_001), "declares 100001 globals, more than the 100000 a module may have"),
    (declaring(7, 20_001), "declares 20001 exports, more than the 20000 a module may have"),
    # Only the header is needed: the size is refused before anything else is read.
    (with_zeros(HEADER, 16 * 2**20 + 1 - len(HEADER)),
     f"module of {16 * 2**20 + 1} bytes, more than the {16 * 2**20} a module may have"),
    (with_zeros(ELEMENT_SECTION_HEAD, 2**20 + 1, "WebAssembly.compile"),
     f"element section takes {2**20 + 1} bytes, more than the {2**20}"),
    ("new WebAssembly.Table({initial: 1e7, element: 'anyfunc'})", "is above the upper bound 1000000"),
    ("new WebAssembly.Table({initial: 1, element: 'anyfunc'}).grow(1e6)", "failed to grow table by 1000000"),
])
def test_a_module_past_the_bounds_is_refused_before_v8_reads_it(source: str, message: str):
    report = run_hostile(source)
    assert report.returncode == 0, report.stderr[-2000:]
    assert report.outcome["name"] == "RangeError", report.outcome
    assert message in report.outcome["message"]
    assert report.outcome["after"] == "alive"
    assert report.peak_mb < PEAK_BOUND_MB, report


def test_modules_at_the_bounds_still_work():
    with Isolate(cpu_limit_ms=5000, timeout_ms=None) as iso:
        iso.eval("globalThis.make = (bytes) => new WebAssembly.Instance(new WebAssembly.Module(bytes)) instanceof "
                 "WebAssembly.Instance")
        assert iso.call("make", functions(100_000)) is True
        assert iso.call("make", HEADER + section(1, leb(100_000) + b"\x60\x00\x00" * 100_000)) is True
        assert iso.eval(compiles(tables(400_000, 600_000))) == "made"
        assert iso.eval("new WebAssembly.Table({initial: 1e6, element: 'anyfunc'}).length") == 1_000_000
        # validate says what the Module constructor would do, past V8's bounds and the runtime's
        assert iso.eval(f"WebAssembly.validate({js_bytes(tables(1_000_000))})") is True
        assert iso.eval(f"WebAssembly.validate({js_bytes(tables(1_000_001))})") is False
        with pytest.raises(JSError, match="TypeError"):
            iso.eval("WebAssembly.validate('not bytes')")
