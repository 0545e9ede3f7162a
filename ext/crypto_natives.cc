// Natives for crypto (OpenSSL): randomness, digests, HMAC. The JS side is ext/js/30_crypto.js.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <string>
#include <string_view>

#include "js_util.h"
#include "native_bindings.h"

namespace pyruntime {

namespace {

const EVP_MD* DigestNamed(const std::string& name) {
  if (name == "SHA-1") return EVP_sha1();
  if (name == "SHA-256") return EVP_sha256();
  if (name == "SHA-384") return EVP_sha384();
  if (name == "SHA-512") return EVP_sha512();
  return nullptr;
}

void RandomFill(const Args& args) {
  std::string_view bytes;
  if (!RequireBytes(args, 0, &bytes)) return;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(const_cast<char*>(bytes.data())), static_cast<int>(bytes.size())) != 1) {
    ThrowTypeError(args.GetIsolate(), "the random number generator failed");
  }
}

void Digest(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  const EVP_MD* md = DigestNamed(Utf8(isolate, args[0]));
  if (md == nullptr) return ThrowTypeError(isolate, "unsupported digest algorithm");
  std::string_view data;
  if (!RequireBytes(args, 1, &data)) return;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), out, &length, md, nullptr) != 1) {
    return ThrowTypeError(isolate, "digest failed");
  }
  ReturnBuffer(args, out, length);
}

void Hmac(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  const EVP_MD* md = DigestNamed(Utf8(isolate, args[0]));
  if (md == nullptr) return ThrowTypeError(isolate, "unsupported digest algorithm");
  std::string_view key;
  std::string_view data;
  if (!RequireBytes(args, 1, &key) || !RequireBytes(args, 2, &data)) return;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  static const unsigned char kEmpty = 0;
  const void* key_data = key.empty() ? static_cast<const void*>(&kEmpty) : key.data();
  if (HMAC(md, key_data, static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()), data.size(),
           out, &length) == nullptr) {
    return ThrowTypeError(isolate, "HMAC failed");
  }
  ReturnBuffer(args, out, length);
}

void TimingSafeEqual(const Args& args) {
  std::string_view a;
  std::string_view b;
  if (!RequireBytes(args, 0, &a) || !RequireBytes(args, 1, &b)) return;
  args.GetReturnValue().Set(a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace

std::vector<NativeFunction> CryptoNatives() {
  return {
      {"randomFill", RandomFill},
      {"digest", Digest},
      {"hmac", Hmac},
      {"timingSafeEqual", TimingSafeEqual},
  };
}

}  // namespace pyruntime
