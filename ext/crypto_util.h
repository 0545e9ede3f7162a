// What the crypto natives (crypto_natives.cc: keys, signatures, key agreement;
// crypto_symmetric_natives.cc: digests, HMAC, AES, key derivation) share: owning OpenSSL
// pointers, wiped buffers, argument readers, and digests fed in interruptible steps.
#pragma once

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <climits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "interruptible.h"
#include "native_bindings.h"

namespace pyruntime::crypto {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;

// Bytes that are wiped when freed: private key encodings and derived secrets.
struct Secret {
  std::vector<unsigned char> bytes;
  explicit Secret(size_t size = 0) : bytes(size) {}
  ~Secret() {
    if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
  }
  unsigned char* data() { return bytes.data(); }
  size_t size() const { return bytes.size(); }
  std::string_view view() const { return {reinterpret_cast<const char*>(bytes.data()), bytes.size()}; }
};

// Leaves OpenSSL's thread-local error queue empty when a native returns, so that a failure
// here is never reported later by unrelated OpenSSL users in the process.
struct ClearErrors {
  ~ClearErrors() { ERR_clear_error(); }
};

// Inputs of at most this size keep every OpenSSL `int` length in range.
constexpr size_t kMaxInput = INT_MAX / 2;

const unsigned char* U(std::string_view bytes);
void Fail(v8::Isolate* isolate, std::string_view message);
const EVP_MD* DigestNamed(const std::string& name);
bool NumberArg(const Args& args, int index, double min, double max, double* out);
// Bytes argument `index`, at most kMaxInput long.
bool InputArg(const Args& args, int index, std::string_view* out);

// Feeds `data` to `update` in steps of kStepBytes, polling StopRequested between them.
// False with a JS exception when stopped, or when `update` fails (the error is `failure`).
template <typename Update>
bool Feed(v8::Isolate* isolate, std::string_view data, Update update, std::string_view failure) {
  bool failed = false;
  bool done = InSteps(isolate, data, [&](std::string_view piece) {
    failed = !update(piece);
    return !failed;
  });
  if (failed) Fail(isolate, failure);
  return done;
}

// The digest of `data` computed in steps; `out` holds EVP_MAX_MD_SIZE bytes.
bool DigestInSteps(v8::Isolate* isolate, const EVP_MD* md, std::string_view data, unsigned char* out,
                   unsigned int* length);

std::vector<NativeFunction> SymmetricCryptoNatives();

}  // namespace pyruntime::crypto
