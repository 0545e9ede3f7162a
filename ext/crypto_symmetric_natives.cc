// Natives for the symmetric side of crypto: digests, HMAC, AES and key derivation (PBKDF2,
// HKDF). Inputs of any size are processed in steps (ext/interruptible.h), so a call stops
// within one step of its time or CPU limit; outputs go straight into ArrayBuffers allocated
// through the isolate's counting allocator, so they count against its memory limit.
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>

#include "crypto_util.h"
#include "js_util.h"

namespace pyruntime::crypto {

namespace {

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>>;
using Mac = std::unique_ptr<EVP_MAC, Deleter<EVP_MAC, EVP_MAC_free>>;
using MacCtx = std::unique_ptr<EVP_MAC_CTX, Deleter<EVP_MAC_CTX, EVP_MAC_CTX_free>>;

// AES-KW wraps in one OpenSSL call that cannot be split. It wraps keys (an 8192-bit RSA key
// in JWK is under 7 KB); 64 KiB take about 8 ms here (1 MiB took 125 ms).
constexpr size_t kMaxWrapBytes = 64u << 10;
// PBKDF2 output: a few KB is far more than any key needs. The iteration count is capped in JS.
constexpr size_t kMaxPbkdf2Bytes = 4096;
// PBKDF2 iterations between two polls of StopRequested (well under 1 ms).
constexpr unsigned kIterationsPerPoll = 1024;

// --- HMAC ------------------------------------------------------------------------------

// An HMAC context keyed with `key`, or null with a JS exception. A key longer than the
// hash's block size is hashed first, in steps, which is what HMAC does with it (RFC 2104).
MacCtx NewHmac(v8::Isolate* isolate, const EVP_MD* md, std::string_view key) {
  unsigned char hashed[EVP_MAX_MD_SIZE];
  if (key.size() > static_cast<size_t>(EVP_MD_get_block_size(md))) {
    unsigned int length = 0;
    if (!DigestInSteps(isolate, md, key, hashed, &length)) return nullptr;
    key = std::string_view(reinterpret_cast<char*>(hashed), length);
  }
  Mac mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  MacCtx ctx(mac ? EVP_MAC_CTX_new(mac.get()) : nullptr);
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(EVP_MD_get0_name(md)), 0),
      OSSL_PARAM_construct_end(),
  };
  bool ok = ctx && EVP_MAC_init(ctx.get(), U(key), key.size(), params) == 1;
  OPENSSL_cleanse(hashed, sizeof hashed);
  if (!ok) {
    Fail(isolate, "HMAC failed");
    return nullptr;
  }
  return ctx;
}

bool MacFeed(v8::Isolate* isolate, EVP_MAC_CTX* ctx, std::string_view data) {
  auto update = [&](std::string_view piece) { return EVP_MAC_update(ctx, U(piece), piece.size()) == 1; };
  return Feed(isolate, data, update, "HMAC failed");
}

bool MacFinal(v8::Isolate* isolate, EVP_MAC_CTX* ctx, unsigned char* out, size_t* length) {
  if (EVP_MAC_final(ctx, out, length, EVP_MAX_MD_SIZE) == 1) return true;
  Fail(isolate, "HMAC failed");
  return false;
}

// Restarts a keyed context for a new message with the same key.
bool MacRestart(v8::Isolate* isolate, EVP_MAC_CTX* ctx) {
  if (EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1) return true;
  Fail(isolate, "HMAC failed");
  return false;
}

void Hmac(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  const EVP_MD* md = DigestNamed(Utf8(isolate, args[0]));
  if (md == nullptr) return ThrowTypeError(isolate, "unsupported digest algorithm");
  std::string_view key;
  std::string_view data;
  if (!RequireBytes(args, 1, &key) || !RequireBytes(args, 2, &data)) return;
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t length = 0;
  MacCtx ctx = NewHmac(isolate, md, key);
  if (!ctx || !MacFeed(isolate, ctx.get(), data) || !MacFinal(isolate, ctx.get(), out, &length)) return;
  ReturnBuffer(args, out, length);
}

void Digest(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  const EVP_MD* md = DigestNamed(Utf8(isolate, args[0]));
  if (md == nullptr) return ThrowTypeError(isolate, "unsupported digest algorithm");
  std::string_view data;
  if (!RequireBytes(args, 1, &data)) return;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (DigestInSteps(isolate, md, data, out, &length)) ReturnBuffer(args, out, length);
}

// --- AES -------------------------------------------------------------------------------

const EVP_CIPHER* AesCipher(const std::string& mode, size_t key_size) {
  bool k128 = key_size == 16;
  bool k192 = key_size == 24;
  if (!k128 && !k192 && key_size != 32) return nullptr;
  if (mode == "GCM") return k128 ? EVP_aes_128_gcm() : k192 ? EVP_aes_192_gcm() : EVP_aes_256_gcm();
  if (mode == "CBC") return k128 ? EVP_aes_128_cbc() : k192 ? EVP_aes_192_cbc() : EVP_aes_256_cbc();
  if (mode == "CTR") return k128 ? EVP_aes_128_ctr() : k192 ? EVP_aes_192_ctr() : EVP_aes_256_ctr();
  if (mode == "KW") return k128 ? EVP_aes_128_wrap() : k192 ? EVP_aes_192_wrap() : EVP_aes_256_wrap();
  return nullptr;
}

// What one pass of a cipher reads and where it writes.
struct CipherJob {
  const EVP_CIPHER* cipher;
  bool encrypt;
  std::string_view key;
  std::string_view iv;
  std::string_view aad;     // GCM
  std::string_view tag;     // GCM decryption
  size_t tag_length = 0;    // GCM encryption
  unsigned char* out;       // room for the whole output
  size_t written = 0;
};

// One pass of `job.cipher` over `in`, in steps, appending at job.out + job.written. CBC pads
// (PKCS #7); GCM authenticates `aad` and writes or checks the tag. False with a JS exception.
bool CipherPass(v8::Isolate* isolate, CipherJob& job, std::string_view in) {
  const char* failure = job.encrypt ? "encryption failed" : "decryption failed";
  auto fail = [&] {
    Fail(isolate, failure);
    return false;
  };
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int mode = EVP_CIPHER_get_mode(job.cipher);
  bool gcm = mode == EVP_CIPH_GCM_MODE;
  if (!ctx || EVP_CipherInit_ex(ctx.get(), job.cipher, nullptr, nullptr, nullptr, job.encrypt) != 1) return fail();
  if (mode == EVP_CIPH_WRAP_MODE) EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (gcm && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(job.iv.size()), nullptr) != 1) {
    return fail();
  }
  if (EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, U(job.key), job.iv.empty() ? nullptr : U(job.iv),
                        job.encrypt) != 1) {
    return fail();
  }
  auto update = [&](std::string_view piece, unsigned char* out) {
    int length = 0;
    if (EVP_CipherUpdate(ctx.get(), out, &length, U(piece), static_cast<int>(piece.size())) != 1) return false;
    if (out != nullptr) job.written += static_cast<size_t>(length);
    return true;
  };
  if (gcm && !Feed(isolate, job.aad, [&](std::string_view piece) { return update(piece, nullptr); }, failure)) {
    return false;
  }
  if (mode == EVP_CIPH_WRAP_MODE) {
    // Key wrapping takes its whole input in one call (bounded by kMaxWrapBytes).
    if (!update(in, job.out + job.written)) return fail();
  } else if (!Feed(isolate, in, [&](std::string_view piece) { return update(piece, job.out + job.written); },
                   failure)) {
    return false;
  }
  if (gcm && !job.encrypt &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(job.tag.size()),
                          const_cast<unsigned char*>(U(job.tag))) != 1) {
    return fail();
  }
  int final_length = 0;
  if (EVP_CipherFinal_ex(ctx.get(), job.out + job.written, &final_length) != 1) return fail();
  job.written += static_cast<size_t>(final_length);
  if (gcm && job.encrypt) {
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(job.tag_length),
                            job.out + job.written) != 1) {
      return fail();
    }
    job.written += job.tag_length;
  }
  return true;
}

// AES-CTR where only the low `bits` bits of the counter block count, wrapping within them
// (OpenSSL counts with all 128): split the input where those bits wrap to zero.
bool AesCtr(v8::Isolate* isolate, CipherJob& job, int bits, std::string_view in) {
  if (bits == 128) return CipherPass(isolate, job, in);
  unsigned __int128 value = 0;
  for (unsigned char c : job.iv) value = (value << 8) | c;
  unsigned __int128 capacity = static_cast<unsigned __int128>(1) << bits;
  unsigned __int128 low = value & (capacity - 1);
  unsigned __int128 blocks = (in.size() + 15) / 16;
  if (blocks > capacity) {
    Fail(isolate, "the counter would repeat: the data is too long for the counter length");
    return false;
  }
  unsigned __int128 before_wrap = capacity - low;
  if (blocks <= before_wrap) return CipherPass(isolate, job, in);
  size_t first = static_cast<size_t>(before_wrap) * 16;
  if (!CipherPass(isolate, job, in.substr(0, first))) return false;
  unsigned __int128 wrapped = value - low;
  unsigned char next[16];
  for (int i = 15; i >= 0; i--, wrapped >>= 8) next[i] = static_cast<unsigned char>(wrapped);
  job.iv = std::string_view(reinterpret_cast<char*>(next), 16);
  return CipherPass(isolate, job, in.substr(first));
}

// The output of a pass that wrote fewer bytes than `buffer` holds (CBC padding removed):
// a new buffer of the right size, copied in steps.
bool Shrink(v8::Isolate* isolate, v8::Local<v8::ArrayBuffer> buffer, size_t length, v8::Local<v8::ArrayBuffer>* out) {
  if (!NewArrayBuffer(isolate, length).ToLocal(out)) return false;
  auto* to = static_cast<char*>((*out)->Data());
  std::string_view from(static_cast<const char*>(buffer->Data()), length);
  return InSteps(isolate, from, [&](std::string_view piece) {
    std::memcpy(to + (piece.data() - from.data()), piece.data(), piece.size());
    return true;
  });
}

// aes(mode, encrypt, key, data, iv, extra, extra2) -> ArrayBuffer:
//   "GCM": iv, additionalData, tagLength in bytes (the tag ends the ciphertext);
//   "CBC": iv; "CTR": counter block, counter length in bits; "KW": RFC 3394 wrap/unwrap.
void Aes(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  std::string mode = Utf8(isolate, args[0]);
  bool encrypt = args[1]->IsTrue();
  std::string_view key;
  std::string_view data;
  std::string_view iv;
  if (!InputArg(args, 2, &key) || !InputArg(args, 3, &data)) return;
  const EVP_CIPHER* cipher = AesCipher(mode, key.size());
  if (cipher == nullptr) return Fail(isolate, "unsupported AES mode or key size");
  if (mode != "KW" && !InputArg(args, 4, &iv)) return;
  CipherJob job{cipher, encrypt, key, iv, {}, {}, 0, nullptr};
  std::string_view body = data;
  size_t capacity = data.size();
  double ctr_bits = 128;
  if (mode == "GCM") {
    double tag_length;
    if (!InputArg(args, 5, &job.aad) || !NumberArg(args, 6, 4, 16, &tag_length)) return;
    if (iv.empty()) return Fail(isolate, "the iv must not be empty");
    size_t tag_size = static_cast<size_t>(tag_length);
    if (encrypt) {
      job.tag_length = tag_size;
      capacity = data.size() + tag_size;
    } else {
      if (data.size() < tag_size) return Fail(isolate, "the data is shorter than the tag");
      body = data.substr(0, data.size() - tag_size);
      job.tag = data.substr(data.size() - tag_size);
      capacity = body.size();
    }
  } else if (mode == "CBC") {
    if (iv.size() != 16) return Fail(isolate, "the iv must be 16 bytes");
    if (encrypt) capacity = (data.size() / 16 + 1) * 16;
  } else if (mode == "CTR") {
    if (!NumberArg(args, 5, 1, 128, &ctr_bits)) return;
    if (iv.size() != 16) return Fail(isolate, "the counter must be 16 bytes");
  } else {
    if (data.size() % 8 != 0 || data.size() < (encrypt ? 16u : 24u)) {
      return Fail(isolate, "the data must be a multiple of 8 bytes and at least 16 bytes of key");
    }
    if (data.size() > kMaxWrapBytes) {
      return Fail(isolate, "AES-KW data is larger than " + std::to_string(kMaxWrapBytes) + " bytes (the limit)");
    }
    capacity = encrypt ? data.size() + 8 : data.size() - 8;
  }
  v8::Local<v8::ArrayBuffer> buffer;
  if (!NewArrayBuffer(isolate, capacity).ToLocal(&buffer)) return;
  job.out = static_cast<unsigned char*>(buffer->Data());
  bool ok = mode == "CTR" ? AesCtr(isolate, job, static_cast<int>(ctr_bits), body) : CipherPass(isolate, job, body);
  if (!ok) {
    // Unauthenticated or badly padded plaintext never reaches anyone, even through reused memory.
    if (capacity > 0) OPENSSL_cleanse(job.out, capacity);
    return;
  }
  if (job.written == capacity) return args.GetReturnValue().Set(buffer);
  v8::Local<v8::ArrayBuffer> exact;
  if (Shrink(isolate, buffer, job.written, &exact)) args.GetReturnValue().Set(exact);
}

// --- key derivation --------------------------------------------------------------------

// pbkdf2(hash, password, salt, iterations, bytes) -> ArrayBuffer (RFC 8018 §5.2). Block i
// is U1 ^ U2 ^ ... ^ Uc with U1 = HMAC(password, salt || INT(i)) and Uj = HMAC(password,
// U(j-1)); computed here rather than by PKCS5_PBKDF2_HMAC so that it can stop between
// iterations.
void Pbkdf2(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  const EVP_MD* md = DigestNamed(Utf8(isolate, args[0]));
  if (md == nullptr) return Fail(isolate, "unsupported digest algorithm");
  std::string_view password;
  std::string_view salt;
  double iterations;
  double length;
  if (!InputArg(args, 1, &password) || !InputArg(args, 2, &salt) || !NumberArg(args, 3, 1, UINT_MAX, &iterations) ||
      !NumberArg(args, 4, 0, kMaxPbkdf2Bytes, &length)) {
    return;
  }
  Secret out(static_cast<size_t>(length));
  MacCtx ctx = NewHmac(isolate, md, password);
  if (!ctx) return;
  size_t hash_size = static_cast<size_t>(EVP_MD_get_size(md));
  Secret u(EVP_MAX_MD_SIZE);
  Secret block(hash_size);
  auto count = static_cast<unsigned>(iterations);
  for (size_t offset = 0, index = 1; offset < out.size(); offset += hash_size, ++index) {
    unsigned char counter[4] = {static_cast<unsigned char>(index >> 24), static_cast<unsigned char>(index >> 16),
                                static_cast<unsigned char>(index >> 8), static_cast<unsigned char>(index)};
    size_t u_length = 0;
    if (!MacRestart(isolate, ctx.get()) || !MacFeed(isolate, ctx.get(), salt) ||
        !MacFeed(isolate, ctx.get(), std::string_view(reinterpret_cast<char*>(counter), sizeof counter)) ||
        !MacFinal(isolate, ctx.get(), u.data(), &u_length)) {
      return;
    }
    std::memcpy(block.data(), u.data(), hash_size);
    for (unsigned j = 1; j < count; ++j) {
      if (j % kIterationsPerPoll == 0 && StopRequested(isolate)) return ThrowStopped(isolate);
      if (EVP_MAC_init(ctx.get(), nullptr, 0, nullptr) != 1 || EVP_MAC_update(ctx.get(), u.data(), hash_size) != 1 ||
          EVP_MAC_final(ctx.get(), u.data(), &u_length, EVP_MAX_MD_SIZE) != 1) {
        return Fail(isolate, "PBKDF2 failed");
      }
      for (size_t k = 0; k < hash_size; ++k) block.data()[k] ^= u.data()[k];
    }
    std::memcpy(out.data() + offset, block.data(), std::min(hash_size, out.size() - offset));
  }
  ReturnBuffer(args, out.data(), out.size());
}

// hkdf(hash, key, salt, info, bytes) -> ArrayBuffer (RFC 5869): PRK = HMAC(salt, key), then
// T(i) = HMAC(PRK, T(i-1) || info || i). An empty salt is HashLen zero bytes, which is what
// an empty HMAC key means.
void Hkdf(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  const EVP_MD* md = DigestNamed(Utf8(isolate, args[0]));
  if (md == nullptr) return Fail(isolate, "unsupported digest algorithm");
  std::string_view key;
  std::string_view salt;
  std::string_view info;
  double length;
  size_t hash_size = static_cast<size_t>(EVP_MD_get_size(md));
  if (!InputArg(args, 1, &key) || !InputArg(args, 2, &salt) || !InputArg(args, 3, &info) ||
      !NumberArg(args, 4, 0, 255.0 * hash_size, &length)) {
    return;
  }
  Secret out(static_cast<size_t>(length));
  if (out.size() == 0) return ReturnBuffer(args, nullptr, 0);
  Secret prk(EVP_MAX_MD_SIZE);
  size_t prk_length = 0;
  MacCtx extract = NewHmac(isolate, md, salt);
  if (!extract || !MacFeed(isolate, extract.get(), key) || !MacFinal(isolate, extract.get(), prk.data(), &prk_length)) {
    return;
  }
  MacCtx expand = NewHmac(isolate, md, std::string_view(reinterpret_cast<char*>(prk.data()), prk_length));
  if (!expand) return;
  Secret t(EVP_MAX_MD_SIZE);
  size_t t_length = 0;
  for (size_t offset = 0, index = 1; offset < out.size(); offset += hash_size, ++index) {
    char counter = static_cast<char>(index);
    if (!MacRestart(isolate, expand.get()) || !MacFeed(isolate, expand.get(), t.view().substr(0, t_length)) ||
        !MacFeed(isolate, expand.get(), info) || !MacFeed(isolate, expand.get(), std::string_view(&counter, 1)) ||
        !MacFinal(isolate, expand.get(), t.data(), &t_length)) {
      return;
    }
    std::memcpy(out.data() + offset, t.data(), std::min(hash_size, out.size() - offset));
  }
  ReturnBuffer(args, out.data(), out.size());
}

}  // namespace

std::vector<NativeFunction> SymmetricCryptoNatives() {
  return {
      {"digest", Digest},
      {"hmac", Hmac},
      {"aes", Aes},
      {"pbkdf2", Pbkdf2},
      {"hkdf", Hkdf},
  };
}

}  // namespace pyruntime::crypto
