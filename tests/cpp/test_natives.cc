// The natives behind the web APIs (URL, UTF-8, crypto, compression, structuredClone),
// exercised through JS with valid and hostile input. Its main use is under
// `make test-asan`, where any memory error in the native code fails the run.
#include <cstdio>
#include <string>

#include "check.h"
#include "runtime.h"

using pyruntime::IsolateLimits;
using pyruntime::Outcome;
using pyruntime::Runtime;
using pyruntime::Status;

namespace {

// Runs `source` to completion (timers included) and returns the settled outcome.
Outcome Run(Runtime& runtime, const std::string& source) {
  Outcome out = runtime.Eval(source, "natives.js");
  while (out.status == Status::kPending) out = runtime.Continue();
  return out;
}

bool ReturnsTrue(Runtime& runtime, const std::string& source) {
  Outcome out = Run(runtime, source);
  if (out.status != Status::kOk || out.value.kind != pyruntime::HostValue::Kind::kBool || !out.value.boolean) {
    std::fprintf(stderr, "not true: %s\n  -> %s: %s\n", source.c_str(), out.error_name.c_str(),
                 out.error_message.c_str());
    return false;
  }
  return true;
}

}  // namespace

int main() {
  IsolateLimits limits;
  limits.timeout_ms = 5000;
  limits.cpu_limit_ms = 5000;
  limits.memory_limit_bytes = 64u << 20;
  Runtime runtime(limits);

  CHECK(ReturnsTrue(runtime, "new URL('../b?c#d', 'http://user:pw@example.com:8080/a/x').href === "
                             "'http://user:pw@example.com:8080/b?c#d'"));
  CHECK(ReturnsTrue(runtime, "(() => { try { new URL('http://[::1'); return false } catch { return true } })()"));
  CHECK(ReturnsTrue(runtime, "new TextDecoder().decode(new Uint8Array([0xE2, 0x82, 0xAC, 0xFF])) === '\\u20ac\\ufffd'"));
  CHECK(ReturnsTrue(runtime, "(() => { try { new TextDecoder('utf-8', {fatal: true}).decode(new Uint8Array([0xC0]));"
                             " return false } catch (e) { return e instanceof TypeError } })()"));
  CHECK(ReturnsTrue(runtime, R"JS((async () => {
    const data = new TextEncoder().encode("hello natives");
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    const key = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
    const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key.privateKey, data);
    const verified = await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key.publicKey, signature, data);
    const aes = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, aes, data);
    const opened = new TextDecoder().decode(await crypto.subtle.decrypt({ name: "AES-GCM", iv }, aes, sealed));
    return digest.length === 32 && verified && opened === "hello natives";
  })())JS"));
  // Garbage key material of every length up to 300 bytes: errors, never crashes.
  CHECK(ReturnsTrue(runtime, R"JS((async () => {
    let failures = 0;
    for (let n = 0; n < 300; n += 7) {
      const junk = crypto.getRandomValues(new Uint8Array(n));
      for (const [format, algorithm] of [["spki", { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" }],
                                         ["pkcs8", { name: "ECDSA", namedCurve: "P-256" }],
                                         ["raw", { name: "ECDSA", namedCurve: "P-384" }],
                                         ["spki", { name: "Ed25519" }]]) {
        try { await crypto.subtle.importKey(format, junk, algorithm, true, format === "pkcs8" ? ["sign"] : ["verify"]) }
        catch { failures++ }
      }
    }
    return failures > 0;
  })())JS"));
  CHECK(ReturnsTrue(runtime, R"JS((async () => {
    const input = new TextEncoder().encode("compress me ".repeat(1000));
    const packed = await new Response(new Blob([input]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
    const unpacked = await new Response(new Blob([packed]).stream().pipeThrough(new DecompressionStream("gzip"))).arrayBuffer();
    let corrupt = false;
    try {
      const junk = new Uint8Array(packed.byteLength).map((_, i) => (i * 37) & 255);
      await new Response(new Blob([junk]).stream().pipeThrough(new DecompressionStream("deflate"))).arrayBuffer();
    } catch (e) { corrupt = e instanceof TypeError }
    return unpacked.byteLength === input.length && packed.byteLength < input.length && corrupt;
  })())JS"));
  CHECK(ReturnsTrue(runtime, "(() => { const b = new ArrayBuffer(8); const c = structuredClone({ b, m: new Map([[1, 2]]) },"
                             " { transfer: [b] }); return b.byteLength === 0 && c.b.byteLength === 8 && c.m.get(1) === 2 })()"));
  CHECK(ReturnsTrue(runtime, R"JS((async () => {
    const s = crypto.subtle;
    const data = new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => i & 255);
    const ed = await s.generateKey("Ed448", true, ["sign", "verify"]);
    const signature = await s.sign("Ed448", ed.privateKey, data.subarray(0, 1000));
    const a = await s.generateKey("X448", false, ["deriveBits"]);
    const b = await s.generateKey("X448", false, ["deriveBits"]);
    const ab = new Uint8Array(await s.deriveBits({ name: "X448", public: b.publicKey }, a.privateKey, 448));
    const ba = new Uint8Array(await s.deriveBits({ name: "X448", public: a.publicKey }, b.privateKey, 448));
    const pbkdf2 = await s.importKey("raw", data.subarray(0, 200), "PBKDF2", false, ["deriveBits"]);
    const bits = await s.deriveBits({ name: "PBKDF2", hash: "SHA-384", salt: data.subarray(0, 99), iterations: 1100 },
                                    pbkdf2, 200 * 8);
    const aes = await s.importKey("raw", data.subarray(0, 32), "AES-CBC", false, ["encrypt", "decrypt"]);
    const iv = new Uint8Array(16);
    const sealed = await s.encrypt({ name: "AES-CBC", iv }, aes, data);
    const opened = new Uint8Array(await s.decrypt({ name: "AES-CBC", iv }, aes, sealed));
    const text = "\u20ac".repeat(600000) + "\ud83d";
    const decoded = new TextDecoder().decode(new TextEncoder().encode(text));
    return signature.byteLength === 114 && await s.verify("Ed448", ed.publicKey, signature, data.subarray(0, 1000)) &&
        ab.length === 56 && ab.every((x, i) => x === ba[i]) && bits.byteLength === 200 &&
        opened.length === data.length && opened.every((x, i) => x === data[i]) &&
        decoded === "\u20ac".repeat(600000) + "\ufffd";
  })())JS"));

  // Native work past a 50 ms CPU limit stops in the middle; each stop path frees what it held
  // (checked under `make test-asan`), and the runtime keeps working.
  IsolateLimits tight;
  tight.timeout_ms = 0;
  tight.cpu_limit_ms = 50;
  tight.memory_limit_bytes = 2048u << 20;
  Runtime limited(tight);
  const char* const kLong[] = {
      "crypto.subtle.digest('SHA-256', new Uint8Array(2 ** 28))",
      "crypto.subtle.importKey('raw', new Uint8Array(32), 'AES-GCM', false, ['encrypt']).then((k) =>"
      " crypto.subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, k, new Uint8Array(2 ** 28)))",
      "crypto.subtle.importKey('raw', new Uint8Array(8), 'PBKDF2', false, ['deriveBits']).then((k) =>"
      " crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-512', salt: new Uint8Array(8), iterations: 100000 },"
      " k, 4096 * 8))",
      "(async () => { for (;;) await crypto.subtle.generateKey({ name: 'RSA-OAEP', modulusLength: 4096,"
      " publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, false, ['decrypt']) })()",
      "new Response(new Blob([new Uint8Array(2 ** 28)]).stream().pipeThrough(new CompressionStream('gzip')))"
      ".arrayBuffer()",
      "new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array(2 ** 28))",
  };
  for (const char* source : kLong) {
    Outcome out = Run(limited, source);
    if (out.status != Status::kCpuLimit) {
      std::fprintf(stderr, "not stopped at the CPU limit: %s\n  -> %s: %s\n", source, out.error_name.c_str(),
                   out.error_message.c_str());
    }
    CHECK(out.status == Status::kCpuLimit);
    CHECK(ReturnsTrue(limited, "new TextDecoder().decode(new Uint8Array([0x6f, 0x6b])) === 'ok'"));
  }
  return TEST_EXIT_CODE();
}
