"""CPU that native work (OpenSSL, zlib, UTF-8, conversions) costs under a 50 ms CPU limit.

Run: `.venv/bin/python benchmarks/bench_native_limits.py [case ...]`. Each case runs in a child
process, under `cpu_limit_ms=50` with no wall-clock limit and a 3 GiB memory limit; the line
shows how the call ended, the CPU time of the thread that ran it, the child's whole CPU
(startup included), and whether the isolate and a fresh one still work. A case that does not
end within 60 s of wall-clock time is killed and reported as such.
"""

from __future__ import annotations

import gzip
import resource
import subprocess
import sys
import time

MB = 1 << 20
GIB = "new Uint8Array(2 ** 30)"  # pages never written: the kernel's zero page until touched


def key(algorithm: str, usages: str) -> str:
    return f"(await s.generateKey({algorithm}, false, [{usages}]))"


ECDSA = key("{ name: 'ECDSA', namedCurve: 'P-256' }", "'sign'")
ED25519 = key("'Ed25519'", "'sign'")
GCM = key("{ name: 'AES-GCM', length: 256 }", "'encrypt'")
CBC = key("{ name: 'AES-CBC', length: 256 }", "'encrypt'")
KW = key("{ name: 'AES-KW', length: 256 }", "'wrapKey'")


CASES = {
    "pbkdf2_12000_bytes": (
        "const k = await s.importKey('raw', new Uint8Array(16), 'PBKDF2', false, ['deriveBits']);"
        " await s.deriveBits({ name: 'PBKDF2', hash: 'SHA-1', salt: new Uint8Array(16), iterations: 100000 }, k,"
        " 12000 * 8);"),
    "pbkdf2_4096_bytes": (
        "const k = await s.importKey('raw', new Uint8Array(16), 'PBKDF2', false, ['deriveBits']);"
        " await s.deriveBits({ name: 'PBKDF2', hash: 'SHA-512', salt: new Uint8Array(16), iterations: 100000 }, k,"
        " 4096 * 8);"),
    "rsa4096_generate": (
        "await s.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 4096,"
        " publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, false, ['sign']);"),
    "digest_1GiB": f"await s.digest('SHA-256', {GIB});",
    "hmac_1GiB": ("const k = await s.importKey('raw', new Uint8Array(32), { name: 'HMAC', hash: 'SHA-256' }, false,"
                  f" ['sign']); await s.sign('HMAC', k, {GIB});"),
    "ecdsa_sign_1GiB": (f"await s.sign({{ name: 'ECDSA', hash: 'SHA-256' }},"
                        f" {ECDSA}.privateKey, {GIB});"),
    "ed25519_sign_1GiB": f"await s.sign('Ed25519', {ED25519}.privateKey, {GIB});",
    "aes_gcm_1GiB": (f"await s.encrypt({{ name: 'AES-GCM', iv: new Uint8Array(12) }},"
                     f" {GCM}, {GIB});"),
    "aes_cbc_1GiB": (f"await s.encrypt({{ name: 'AES-CBC', iv: new Uint8Array(16) }},"
                     f" {CBC}, {GIB});"),
    "aes_kw_64MiB": ("const h = await s.importKey('raw', new Uint8Array(64 * 2 ** 20),"
                     " { name: 'HMAC', hash: 'SHA-256' }, true, ['sign']);"
                     f" await s.wrapKey('raw', h, {KW}, 'AES-KW');"),
    "hkdf_info_64MiB": (
        "const k = await s.importKey('raw', new Uint8Array(32), 'HKDF', false, ['deriveBits']);"
        " await s.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(),"
        " info: new Uint8Array(64 * 2 ** 20) }, k, 255 * 32 * 8);"),
    "gzip_1GiB": ("const c = new CompressionStream('gzip'); const w = c.writable.getWriter();"
                  f" w.write({GIB}).catch(() => {{}}); w.close().catch(() => {{}});"
                  " await new Response(c.readable).arrayBuffer();"),
    "gunzip_bomb_512MiB": ("const d = new DecompressionStream('gzip'); const w = d.writable.getWriter();"
                           " w.write(a[0]).catch(() => {}); w.close().catch(() => {});"
                           " await new Response(d.readable).arrayBuffer();"),
    "utf8_decode_512MiB": "new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(2 ** 29 - 4096));",
    "utf8_encode_256M_chars": "new TextEncoder().encode('\\u00e9'.repeat(2 ** 28));",
    "result_1GiB_bytes": f"return {GIB};",
    "result_256M_char_string": "return 'ab'.repeat(2 ** 27);",
    "structured_clone_256MiB": f"structuredClone(new Uint8Array({256 * MB}));",
}


def child(name: str) -> None:
    from pyruntime import Isolate

    body = CASES[name]
    args = [gzip.compress(bytes(512 * MB), 1)] if "gunzip" in name else []
    iso = Isolate(memory_limit_mb=3072, timeout_ms=None, cpu_limit_ms=50, total_timeout_ms=None)
    iso.eval(f"globalThis.run = async (...a) => {{ const s = crypto.subtle; {body} return 'done'; }}; undefined")
    start = time.thread_time()
    try:
        result = iso.call("run", *args)
        outcome = "finished" if result == "done" else f"returned {type(result).__name__}"
    except Exception as error:  # noqa: BLE001 (the outcome is what this reports)
        outcome = f"{type(error).__name__}: {str(error)[:90]}"
    spent_ms = (time.thread_time() - start) * 1000
    alive = iso.eval("1 + 1") == 2
    fresh = Isolate().eval("2 + 2") == 4
    print(f"thread CPU {spent_ms:6.0f} ms | isolate ok {alive} | fresh ok {fresh} | {outcome}", flush=True)


def main(names: list[str]) -> None:
    before = 0.0
    for name in names or list(CASES):
        started = time.monotonic()
        process = subprocess.Popen([sys.executable, __file__, "--child", name], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, cwd="/")
        try:
            output = process.communicate(timeout=60)[0].decode(errors="replace").strip()
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            output = "killed after 60 s of wall-clock time"
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        total = usage.ru_utime + usage.ru_stime
        spent, before = total - before, total
        last = output.splitlines()[-1] if output else ""
        print(f"{name:24s} wall {time.monotonic() - started:5.1f} s  process CPU {spent:5.2f} s  {last}", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2])
    else:
        main(sys.argv[1:])
