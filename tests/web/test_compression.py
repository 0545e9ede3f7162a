"""CompressionStream and DecompressionStream (ext/js/56_compression.js, ext/compression_natives.cc),
checked against Python's gzip and zlib in both directions."""

import gzip
import random
import zlib

import pytest
from conftest import memory_probe

from pyruntime import Isolate, JSError

FORMATS = ["gzip", "deflate", "deflate-raw"]
WBITS = {"gzip": 31, "deflate": 15, "deflate-raw": -15}

# run(kind, format, chunks) pipes the chunks through a (De)CompressionStream and returns the
# output bytes; every output chunk must be a non-empty Uint8Array.
HELPERS = """
globalThis.run = async (kind, format, chunks) => {
  const stream = kind === "compress" ? new CompressionStream(format) : new DecompressionStream(format);
  const source = new ReadableStream({
    start(c) { for (const chunk of chunks) c.enqueue(chunk); c.close(); },
  });
  const reader = source.pipeThrough(stream).getReader();
  const parts = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!(value instanceof Uint8Array) || value.byteLength === 0) throw new Error("bad output chunk");
    parts.push(value);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) { out.set(p, offset); offset += p.byteLength; }
  return out;
};
globalThis.errorOf = async (kind, format, chunks) => {
  try { await run(kind, format, chunks); return "none"; } catch (e) { return e.name + ": " + e.message; }
};
undefined;
"""


@pytest.fixture(scope="module")
def iso():
    with Isolate(timeout_ms=5000, cpu_limit_ms=5000) as isolate:
        isolate.eval(HELPERS)
        yield isolate


def compress(data, fmt):
    c = zlib.compressobj(wbits=WBITS[fmt])
    return c.compress(data) + c.flush()


def decompress(data, fmt):
    d = zlib.decompressobj(wbits=WBITS[fmt])
    out = d.decompress(data) + d.flush()
    assert d.eof and not d.unused_data
    return out


def split(data, sizes):
    chunks, i = [], 0
    for size in sizes:
        chunks.append(data[i:i + size])
        i += size
    if i < len(data):
        chunks.append(data[i:])
    return chunks


TEXT = b"The quick brown fox jumps over the lazy dog. " * 2000
RANDOM = random.Random(7).randbytes(300_000)


# --- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("data", [b"", b"x", TEXT, RANDOM], ids=["empty", "one", "text", "random"])
def test_js_compresses_python_decompresses(iso, fmt, data):
    out = iso.call("run", "compress", fmt, [data] if data else [])
    assert decompress(out, fmt) == data


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("data", [b"", b"x", TEXT, RANDOM], ids=["empty", "one", "text", "random"])
def test_python_compresses_js_decompresses(iso, fmt, data):
    assert iso.call("run", "decompress", fmt, [compress(data, fmt)]) == data


def test_gzip_module_output_and_python_gzip_reads_ours(iso):
    assert iso.call("run", "decompress", "gzip", [gzip.compress(TEXT, mtime=0)]) == TEXT
    assert gzip.decompress(iso.call("run", "compress", "gzip", [TEXT])) == TEXT
    assert zlib.decompress(iso.call("run", "compress", "deflate", [TEXT])) == TEXT


@pytest.mark.parametrize("fmt", FORMATS)
def test_chunked_input_both_ways(iso, fmt):
    data = TEXT + RANDOM[:50_000]
    compressed = compress(data, fmt)
    one_byte = split(compressed[:300], [1] * 300) + [compressed[300:]]
    assert iso.call("run", "decompress", fmt, one_byte) == data
    uneven = split(compressed, [7, 1000, 3, 65536, 0, 12345])
    assert iso.call("run", "decompress", fmt, uneven) == data
    assert decompress(iso.call("run", "compress", fmt, split(data, [1, 2, 3, 5000, 0, 70000])), fmt) == data


def test_large_output_from_one_small_chunk(iso):
    data = bytes(20 * 1024 * 1024)
    out = iso.call("run", "decompress", "gzip", [gzip.compress(data)])
    assert len(out) == len(data) and out == data


def test_js_round_trip_of_every_buffer_source_kind(iso):
    result = iso.eval("""(async () => {
      const bytes = new TextEncoder().encode("abcdefgh".repeat(100));
      const inputs = [bytes.buffer.slice(0), new DataView(bytes.buffer, 8, 16), bytes.subarray(3, 40),
                      new Int16Array(bytes.buffer, 2, 10), new Float64Array(2)];
      const compressed = await run("compress", "deflate", inputs);
      const back = await run("decompress", "deflate", [compressed]);
      return back.byteLength;
    })()""")
    assert result == 800 + 16 + 37 + 20 + 16


def test_response_text_of_a_piped_stream(iso):
    body = "héllo wörld ".encode() * 1000
    iso.eval("""globalThis.pipeText = (gz) => {
      const stream = new ReadableStream({
        start(c) { c.enqueue(gz.subarray(0, 10)); c.enqueue(gz.subarray(10)); c.close(); },
      });
      return new Response(stream.pipeThrough(new DecompressionStream("gzip"))).text();
    }; undefined""")
    assert iso.call("pipeText", gzip.compress(body)) == body.decode()


def test_compress_then_decompress_in_js(iso):
    text = iso.eval("""(async () => {
      const src = new Blob(["pyruntime ".repeat(10000)]).stream();
      const gz = src.pipeThrough(new CompressionStream("gzip"));
      return new Response(gz.pipeThrough(new DecompressionStream("gzip"))).text();
    })()""")
    assert text == "pyruntime " * 10000


# --- the interface --------------------------------------------------------------------------


def test_interface(iso):
    assert iso.eval("""[
      typeof CompressionStream, typeof DecompressionStream,
      Object.prototype.toString.call(new CompressionStream("gzip")),
      Object.prototype.toString.call(new DecompressionStream("deflate-raw")),
      new CompressionStream("deflate").readable instanceof ReadableStream,
      new DecompressionStream("deflate").writable instanceof WritableStream,
      Object.keys(globalThis).includes("CompressionStream"),
    ]""") == ["function", "function", "[object CompressionStream]", "[object DecompressionStream]",
              True, True, False]


@pytest.mark.parametrize("code", [
    'new CompressionStream("br")', 'new DecompressionStream("GZIP")', "new CompressionStream()",
    'new DecompressionStream("")', 'CompressionStream("gzip")',
    'Object.getOwnPropertyDescriptor(CompressionStream.prototype, "readable").get.call({})',
])
def test_bad_construction_is_a_type_error(iso, code):
    with pytest.raises(JSError) as info:
        iso.eval(code)
    assert info.value.name == "TypeError"


def test_unknown_format_message_names_the_formats(iso):
    with pytest.raises(JSError, match="deflate, deflate-raw, gzip"):
        iso.eval('new CompressionStream("zstd")')


@pytest.mark.parametrize("chunk", ['"text"', "42", "null", "[1, 2]", "{}"])
def test_non_buffer_source_chunk_errors_the_stream(iso, chunk):
    assert iso.eval(f'errorOf("compress", "gzip", [{chunk}])').startswith("TypeError")
    assert iso.eval(f'errorOf("decompress", "gzip", [{chunk}])').startswith("TypeError")


# --- decompression errors -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_corrupt_data_is_a_type_error(iso, fmt):
    bad = bytearray(compress(TEXT, fmt))
    bad[{"gzip": 10, "deflate": 2, "deflate-raw": 0}[fmt]] |= 0x06  # the reserved deflate block type
    error = iso.call("errorOf", "decompress", fmt, [bytes(bad)])
    assert error.startswith("TypeError: the compressed data is invalid"), error


@pytest.mark.parametrize("fmt", ["gzip", "deflate"])
def test_corruption_in_the_middle_is_a_type_error(iso, fmt):
    bad = bytearray(compress(RANDOM, fmt))
    for i in range(len(bad) // 2, len(bad) // 2 + 40):
        bad[i] ^= 0x5A
    assert iso.call("errorOf", "decompress", fmt, [bytes(bad)]).startswith("TypeError")


@pytest.mark.parametrize("fmt", ["gzip", "deflate"])
def test_checksum_mismatch_is_a_type_error(iso, fmt):
    good = bytearray(compress(TEXT, fmt))
    good[-5] ^= 1  # inside the CRC-32 (gzip) or the Adler-32 (deflate) trailer
    assert iso.call("errorOf", "decompress", fmt, [bytes(good)]).startswith("TypeError")


@pytest.mark.parametrize("fmt", FORMATS)
def test_trailing_junk_is_a_type_error(iso, fmt):
    good = compress(TEXT, fmt)
    assert iso.call("errorOf", "decompress", fmt, [good + b"junk"]).startswith("TypeError: junk")
    assert iso.call("errorOf", "decompress", fmt, [good, b"\0"]).startswith("TypeError: junk")
    # An empty chunk after the end is not junk.
    assert iso.call("run", "decompress", fmt, [good, b""]) == TEXT


def test_a_second_gzip_member_is_junk(iso):
    two = gzip.compress(b"one") + gzip.compress(b"two")
    assert iso.call("errorOf", "decompress", "gzip", [two]).startswith("TypeError: junk")


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_input_is_a_type_error_at_close(iso, fmt):
    good = compress(TEXT, fmt)
    for cut in (1, len(good) // 2, len(good) - 1):
        error = iso.call("errorOf", "decompress", fmt, [good[:cut]])
        assert error == "TypeError: the compressed data is truncated", (cut, error)
    assert iso.call("errorOf", "decompress", fmt, []) == "TypeError: the compressed data is truncated"


def test_wrong_format_is_a_type_error(iso):
    assert iso.call("errorOf", "decompress", "gzip", [zlib.compress(TEXT)]).startswith("TypeError")
    assert iso.call("errorOf", "decompress", "deflate", [gzip.compress(TEXT)]).startswith("TypeError")


def test_garbage_of_every_length_never_crashes(iso):
    rng = random.Random(1)
    for fmt in FORMATS:
        for n in range(0, 200, 7):
            error = iso.call("errorOf", "decompress", fmt, [rng.randbytes(n)])
            assert error.startswith("TypeError"), (fmt, n, error)


def test_errored_stream_rejects_writes_and_reads(iso):
    assert iso.eval("""(async () => {
      const ds = new DecompressionStream("gzip");
      const writer = ds.writable.getWriter();
      const reader = ds.readable.getReader();
      const w = writer.write(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
      const results = await Promise.allSettled([w, reader.read(), writer.write(new Uint8Array(1))]);
      return results.map(r => r.status + ":" + (r.reason && r.reason.name));
    })()""") == ["rejected:TypeError", "rejected:TypeError", "rejected:TypeError"]


def test_cancelled_streams_release_their_zlib_memory():
    with Isolate(memory_limit_mb=64, timeout_ms=5000, cpu_limit_ms=5000) as iso:
        before = iso.heap_statistics()["array_buffer_bytes"]
        iso.eval("""globalThis.streams = [];
          for (let i = 0; i < 20; i++) streams.push(new CompressionStream("gzip"));""")
        held = iso.heap_statistics()["array_buffer_bytes"] - before
        assert held > 20 * 200_000  # zlib's deflate state counts against the memory limit
        iso.eval("(async () => { for (const s of streams) await s.readable.cancel(); })()")
        assert iso.heap_statistics()["array_buffer_bytes"] - before < held / 10


def test_abandoned_streams_hit_the_memory_limit_not_the_host():
    with Isolate(memory_limit_mb=64, timeout_ms=5000, cpu_limit_ms=5000) as iso:
        with pytest.raises(JSError) as info:
            iso.eval("globalThis.keep = []; for (let i = 0; i < 2000; i++) keep.push(new CompressionStream('gzip'))")
        assert info.value.name == "RangeError"
        assert iso.eval("keep.length") < 2000
        iso.eval("keep = null")
        assert iso.eval("1 + 1") == 2


# --- a decompression bomb under the memory limit ------------------------------------------------


def gzip_bomb(size):
    c = zlib.compressobj(9, wbits=31)
    block = bytes(1 << 20)
    return b"".join(c.compress(block) for _ in range(size >> 20)) + c.flush()


BOMBS = {
    "one chunk": "(b) => new Response(new Blob([b]).stream().pipeThrough(new DecompressionStream('gzip')))"
                 ".arrayBuffer()",
    "whole push": "(b) => { const ds = new DecompressionStream('gzip'); const w = ds.writable.getWriter();"
                  " const r = ds.readable.getReader(); w.write(b).catch(() => {});"
                  " return r.read().then(x => x.value.byteLength); }",
    "text": "(b) => new Response(new Response(b).body.pipeThrough(new DecompressionStream('gzip'))).text()",
}


@pytest.fixture(scope="module")
def bomb():
    return gzip_bomb(1 << 30)  # 1 GiB of zeros in about 1 MB


@pytest.mark.parametrize("mode", ["one chunk", "whole push", "text"])
def test_gzip_bomb_hits_the_memory_limit_and_the_host_survives(bomb, mode):
    assert len(bomb) < 2 << 20
    report = memory_probe(BOMBS[mode], bomb)
    assert report["outcome"] in ("MemoryLimitExceeded", "JSError:RangeError"), report
    assert report["after"] == "alive"
    assert report["peak_mb"] < 512, report
