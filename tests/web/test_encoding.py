"""TextDecoder and TextDecoderStream for every WHATWG encoding (ICU through ext/encoding_natives.cc).

The vectors (vectors/encoding.json, written by vectors/make_encoding_vectors.mjs) hold every
byte of every single-byte encoding, every mapped pointer of the multi-byte indexes, invalid
and truncated sequences, byte order marks and streaming splits, with the WHATWG decoders'
results. Where ICU's converters differ from the Encoding Standard and no rule short of a
hand-written table fixes it, known_difference() below names the reason; the test checks that
every failing vector has one and that each reason still shows, so the list cannot go stale.
Pass counts per encoding are printed (pytest -s).
"""

import ctypes.util
import json
import re
import time
from collections import Counter
from pathlib import Path

import pytest

from pyruntime import Isolate, JSError, TimeLimitExceeded

VECTORS = json.loads((Path(__file__).parent / "vectors" / "encoding.json").read_text(encoding="utf-8"))


def icu_major() -> int:
    """The ICU major version the extension links (from libicuuc's file name)."""
    name = ctypes.util.find_library("icuuc") or ""
    digits = "".join(ch for ch in name.rsplit(".so.", 1)[-1] if ch.isdigit())
    return int(digits) if digits else 0


# Where ICU's converters differ from the WHATWG decoders and no rule (only a table) fixes
# it: (reason, the vectors it covers). ext/encoding_natives.cc documents each.
BIG5_HKSCS = {f"index row {lead}" for lead in
              "87 88 8c 8d 8e 8f 90 91 92 94 95 96 9b 9c 9d 9e 9f a0 a3 c6 c8 fa fb fc fd fe".split()}
BIG5_HKSCS |= {"88 then A", "8e 7e", "8e 7e fatal", "8f fe", "8f fe fatal", "c8 a1", "c8 a1 fatal"}
GB18030_2005 = {"index row a3", "index row a6", "index row fe", "fe 7e", "fe 7e fatal", "fe a0", "fe a0 fatal"}
ISO_2022_JP = {"1b24420a3021", "1b24420a3021 fatal", "1b24", "1b28", "1b2441", "1b2841", "1b2428443021"}


def collapse(shown):
    """A shown string with each run of U+FFFD as one."""
    return re.sub(r"fffd( fffd)+", "fffd", shown)


def known_difference(encoding, what, fatal, got, want):
    """Why ICU's result `got` differs from the WHATWG decoder's `want`, or None if it should not."""
    if encoding == "big5" and what in BIG5_HKSCS:
        return "ICU's Big5-HKSCS table lacks, or maps to private use, pointers of WHATWG's Big5 index"
    if encoding in ("gb18030", "gbk") and what in GB18030_2005 and icu_major() < 73:
        return "ICU before 73 decodes GB18030-2005 (private use) where WHATWG has GB18030-2022"
    if encoding == "iso-2022-jp" and what in ISO_2022_JP:
        return "ICU's ISO-2022-JP ends the JIS X 0208 state at a newline and swallows bad escape sequences"
    if encoding == "euc-jp" and not fatal and got is not None and collapse(got) == collapse(want) != want:
        return "an invalid JIS X 0212 sequence cut between chunks is two errors (ICU replays the cut bytes)"
    return None


RUNNER = """
const hexBytes = (hex) => new Uint8Array((hex.match(/../g) ?? []).map((h) => parseInt(h, 16)));
const show = (s) => s === null ? null : Array.from(s, (c) => c.codePointAt(0).toString(16)).join(" ");
const failures = [];
vectors.forEach(([encoding, chunks, fatal, ignoreBOM, expected, what], i) => {
  let got;
  try {
    const decoder = new TextDecoder(encoding, { fatal, ignoreBOM });
    got = "";
    chunks.forEach((chunk, n) => { got += decoder.decode(hexBytes(chunk), { stream: n < chunks.length - 1 }); });
  } catch (e) {
    got = e instanceof TypeError ? null : `${e.name}: ${e.message}`;
  }
  if (got !== expected) failures.push([i, show(got), show(expected)]);
});
failures
"""


@pytest.fixture(scope="module")
def iso():
    with Isolate(timeout_ms=None, cpu_limit_ms=None, memory_limit_mb=256) as isolate:
        yield isolate


def test_every_encoding_matches_the_whatwg_decoders(iso):
    vectors = VECTORS["vectors"]
    iso.eval(f"globalThis.vectors = {json.dumps(vectors)};")
    failures = iso.eval(RUNNER)
    failed = {index for index, _, _ in failures}
    totals = Counter(v[0] for v in vectors)
    passed = Counter(v[0] for i, v in enumerate(vectors) if i not in failed)
    for encoding in totals:
        print(f"{encoding}: {passed[encoding]}/{totals[encoding]}")
    print(f"all: {sum(passed.values())}/{len(vectors)} (ICU {icu_major()})")

    reasons = Counter()
    unexplained = []
    for index, got, want in failures:
        encoding, _, fatal, _, _, what = vectors[index]
        reason = known_difference(encoding, what, fatal, got, want)
        if reason is None:
            unexplained.append((encoding, what, got, want))
        reasons[reason] += 1
    for reason, count in reasons.items():
        print(f"known difference, {count} vectors: {reason}")
    assert unexplained == []
    # Each known difference still shows (the list cannot go stale).
    assert len(reasons) == (4 if icu_major() < 73 else 3)


def test_labels_and_replacement(iso):
    labels = VECTORS["labels"]
    got = iso.eval(f"""{json.dumps(labels)}.map(([label]) => {{
        try {{ return new TextDecoder(label).encoding; }} catch (e) {{ return e.name; }}
    }})""")
    want = ["RangeError" if name is None else name for _, name in labels]
    assert got == want
    # ISO-8859-16, which ICU's data lacks, decodes from the table made of CPython's codec.
    assert iso.eval("new TextDecoder('iso-8859-16').decode(new Uint8Array([0xA4, 0xAA, 0xDE]))") == "\u20ac\u0218\u021a"


def test_decoder_stream_keeps_state_across_chunks(iso):
    # Shift_JIS "あいう" and gb18030 four-byte U+0080, cut inside every character.
    assert iso.eval("""(async () => {
        const run = async (label, chunks, options) => {
          const stream = new TextDecoderStream(label, options);
          const writer = stream.writable.getWriter();
          for (const chunk of chunks) writer.write(new Uint8Array(chunk));
          writer.close();
          let text = "";
          for await (const part of stream.readable) text += part;
          return [stream.encoding, text];
        };
        return [
          await run("sjis", [[0x82], [0xa0, 0x82], [0xa2, 0x82], [0xa4]]),
          await run("gb18030", [[0x81, 0x30], [0x81], [0x30, 0x41]]),
          await run("utf-16le", [[0xff], [0xfe, 0x3d], [0xd8, 0x00], [0xde]]),
          await run("euc-kr", [[0xb0]]),
        ];
    })()""") == [["shift_jis", "あいう"], ["gb18030", "\x80A"], ["utf-16le", "\U0001f600"], ["euc-kr", "\ufffd"]]


def test_fatal_stream_errors_and_decoder_starts_over(iso):
    assert iso.eval("""(async () => {
        const stream = new TextDecoderStream("big5", { fatal: true });
        const writer = stream.writable.getWriter();
        writer.write(new Uint8Array([0xa4, 0x40, 0xa4])).catch(() => {});
        writer.close().catch(() => {});
        const reader = stream.readable.getReader();
        const first = await reader.read();
        const error = await reader.read().then(() => "no error", (e) => e.name);
        const d = new TextDecoder("euc-jp", { fatal: true });
        const kept = d.decode(new Uint8Array([0xa4]), { stream: true });
        let thrown;
        try { d.decode(new Uint8Array([0x41])); } catch (e) { thrown = e.name; }
        return [first.value, error, kept, thrown, d.decode(new Uint8Array([0xa4, 0xa2]))];
    })()""") == ["一", "TypeError", "", "TypeError", "あ"]


def test_bad_input_gets_clear_errors(iso):
    with pytest.raises(JSError, match="RangeError.*invalid"):
        iso.eval("new TextDecoder('klingon')")
    with pytest.raises(JSError, match="TypeError"):
        iso.eval("new TextDecoder('shift_jis').decode('not bytes')")
    assert iso.eval("new TextDecoder('gbk', { fatal: true }).encoding") == "gbk"


# 32 MiB of Shift_JIS lead bytes each followed by an invalid trail: every pair is an error
# (U+FFFD, then the space), the slowest path of the ICU decoders.
MAKE_HUGE = "globalThis.huge = new Uint8Array(new Uint16Array(16 << 20).fill(0x2081).buffer); huge.length"
DECODE_HUGE = "new TextDecoder('shift_jis').decode(huge).length"


def cpu_seconds(fn):
    start = time.thread_time()  # JS runs on the calling thread
    result = fn()
    return result, time.thread_time() - start


def test_huge_decode_is_stopped_by_the_cpu_limit_between_chunks():
    """One decode() call runs in 1 MiB chunks: a CPU limit stops it part way, not at the end."""
    with Isolate(timeout_ms=None, cpu_limit_ms=None, memory_limit_mb=1024) as iso:
        _, setup_cpu = cpu_seconds(lambda: iso.eval(MAKE_HUGE))
        length, full_cpu = cpu_seconds(lambda: iso.eval(DECODE_HUGE))
    assert length == 32 << 20

    limit_ms = max(full_cpu * 1000 / 8, setup_cpu * 1000 * 3)
    assert limit_ms < full_cpu * 1000 / 4, (setup_cpu, full_cpu)
    with Isolate(timeout_ms=None, cpu_limit_ms=limit_ms, memory_limit_mb=1024) as iso:
        assert iso.eval(MAKE_HUGE) == 32 << 20
        start = time.thread_time()
        with pytest.raises(TimeLimitExceeded) as stopped:
            iso.eval(DECODE_HUGE)
        stopped_cpu = time.thread_time() - start
        assert stopped.value.limit == "cpu"
        print(f"whole decode {full_cpu * 1000:.0f} ms CPU; under a {limit_ms:.0f} ms CPU limit stopped after "
              f"{stopped_cpu * 1000:.0f} ms")
        # Stopped within a few chunks after the limit, far from the whole decode.
        assert stopped_cpu < full_cpu / 2, (stopped_cpu, full_cpu, limit_ms)
        assert iso.eval("new TextDecoder('shift_jis').decode(huge.subarray(0, 4))") == "\ufffd \ufffd "
