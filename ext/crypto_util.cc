#include "crypto_util.h"

#include "js_util.h"

namespace pyruntime::crypto {

const unsigned char* U(std::string_view bytes) {
  static const unsigned char kEmpty = 0;
  return bytes.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(bytes.data());
}

void Fail(v8::Isolate* isolate, std::string_view message) {
  isolate->ThrowException(v8::Exception::Error(NewString(isolate, message)));
}

const EVP_MD* DigestNamed(const std::string& name) {
  if (name == "SHA-1") return EVP_sha1();
  if (name == "SHA-256") return EVP_sha256();
  if (name == "SHA-384") return EVP_sha384();
  if (name == "SHA-512") return EVP_sha512();
  return nullptr;
}

bool NumberArg(const Args& args, int index, double min, double max, double* out) {
  if (args.Length() > index && args[index]->IsNumber()) {
    double value = args[index].As<v8::Number>()->Value();
    if (value >= min && value <= max) {
      *out = value;
      return true;
    }
  }
  ThrowTypeError(args.GetIsolate(), "expected a number in range");
  return false;
}

bool InputArg(const Args& args, int index, std::string_view* out) {
  if (!RequireBytes(args, index, out)) return false;
  if (out->size() > kMaxInput) {
    Fail(args.GetIsolate(), "the data is too large");
    return false;
  }
  return true;
}

bool DigestInSteps(v8::Isolate* isolate, const EVP_MD* md, std::string_view data, unsigned char* out,
                   unsigned int* length) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) {
    Fail(isolate, "digest failed");
    return false;
  }
  auto update = [&](std::string_view piece) { return EVP_DigestUpdate(ctx.get(), piece.data(), piece.size()) == 1; };
  if (!Feed(isolate, data, update, "digest failed")) return false;
  if (EVP_DigestFinal_ex(ctx.get(), out, length) != 1) {
    Fail(isolate, "digest failed");
    return false;
  }
  return true;
}

}  // namespace pyruntime::crypto
