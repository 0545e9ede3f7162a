// Natives for crypto (OpenSSL 3): randomness, digests, HMAC, and the primitives behind
// crypto.subtle. They are stateless: keys arrive from JS as bytes on every call (SPKI or
// PKCS#8 DER for asymmetric keys, raw bytes for secret keys) and no OpenSSL object outlives
// a call. A failure throws a plain Error; the JS side (ext/js/30_crypto.js … 34_crypto_kdf.js)
// turns it into the DOMException WebCrypto specifies for the operation.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "js_util.h"
#include "native_bindings.h"

namespace pyruntime {

namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PKeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>>;
using Bn = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_clear_free>>;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using P8Info = std::unique_ptr<PKCS8_PRIV_KEY_INFO, Deleter<PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free>>;
using Kdf = std::unique_ptr<EVP_KDF, Deleter<EVP_KDF, EVP_KDF_free>>;
using KdfCtx = std::unique_ptr<EVP_KDF_CTX, Deleter<EVP_KDF_CTX, EVP_KDF_CTX_free>>;

// Bytes that are wiped when freed: private key encodings and derived secrets.
struct Secret {
  std::vector<unsigned char> bytes;
  explicit Secret(size_t size = 0) : bytes(size) {}
  ~Secret() {
    if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
  }
  unsigned char* data() { return bytes.data(); }
  size_t size() const { return bytes.size(); }
};

// Leaves OpenSSL's thread-local error queue empty when a native returns, so that a failure
// here is never reported later by unrelated OpenSSL users in the process.
struct ClearErrors {
  ~ClearErrors() { ERR_clear_error(); }
};

// Inputs of at most this size keep every OpenSSL `int` length in range.
constexpr size_t kMaxInput = INT_MAX / 2;

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

// WebCrypto curve names to OpenSSL group names, and back.
const char* GroupOfCurve(const std::string& curve) {
  if (curve == "P-256") return "prime256v1";
  if (curve == "P-384") return "secp384r1";
  if (curve == "P-521") return "secp521r1";
  return nullptr;
}

const char* CurveOfGroup(const std::string& group) {
  if (group == "prime256v1") return "P-256";
  if (group == "secp384r1") return "P-384";
  if (group == "secp521r1") return "P-521";
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

bool NewBuffer(v8::Isolate* isolate, const void* data, size_t length, v8::Local<v8::Value>* out) {
  v8::Local<v8::ArrayBuffer> buffer;
  if (!NewArrayBuffer(isolate, length).ToLocal(&buffer)) return false;
  if (length > 0) std::memcpy(buffer->Data(), data, length);
  *out = buffer;
  return true;
}

void ReturnArray(const Args& args, std::vector<v8::Local<v8::Value>>& items) {
  args.GetReturnValue().Set(v8::Array::New(args.GetIsolate(), items.data(), items.size()));
}

// --- key encodings ---------------------------------------------------------------------

// A DER encoding accepted only when it is complete, with no trailing bytes.
PKey ParsePublic(std::string_view der) {
  const unsigned char* p = U(der);
  PKey key(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (key && p != U(der) + der.size()) key.reset();
  return key;
}

PKey ParsePrivate(std::string_view der) {
  const unsigned char* p = U(der);
  P8Info info(d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size())));
  if (!info || p != U(der) + der.size()) return nullptr;
  return PKey(EVP_PKCS82PKEY(info.get()));
}

// Key bytes from JS: argument `index` is DER, `is_private` picks SPKI or PKCS#8.
bool KeyArg(const Args& args, int index, bool is_private, PKey* out) {
  std::string_view der;
  if (!InputArg(args, index, &der)) return false;
  *out = is_private ? ParsePrivate(der) : ParsePublic(der);
  if (*out) return true;
  Fail(args.GetIsolate(), is_private ? "invalid PKCS #8 private key" : "invalid SubjectPublicKeyInfo");
  return false;
}

bool EncodeKey(v8::Isolate* isolate, EVP_PKEY* key, bool is_private, v8::Local<v8::Value>* out) {
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
      EVP_PKEY_set_utf8_string_param(key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                     OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) != 1) {
    Fail(isolate, "cannot encode the key");
    return false;
  }
  if (!is_private) {
    int length = i2d_PUBKEY(key, nullptr);
    if (length <= 0) {
      Fail(isolate, "cannot encode the key");
      return false;
    }
    std::vector<unsigned char> der(static_cast<size_t>(length));
    unsigned char* p = der.data();
    i2d_PUBKEY(key, &p);
    return NewBuffer(isolate, der.data(), der.size(), out);
  }
  P8Info info(EVP_PKEY2PKCS8(key));
  int length = info ? i2d_PKCS8_PRIV_KEY_INFO(info.get(), nullptr) : 0;
  if (length <= 0) {
    Fail(isolate, "cannot encode the key");
    return false;
  }
  Secret der(static_cast<size_t>(length));
  unsigned char* p = der.data();
  i2d_PKCS8_PRIV_KEY_INFO(info.get(), &p);
  return NewBuffer(isolate, der.data(), der.size(), out);
}

void ReturnKey(const Args& args, EVP_PKEY* key, bool is_private) {
  v8::Local<v8::Value> der;
  if (EncodeKey(args.GetIsolate(), key, is_private, &der)) args.GetReturnValue().Set(der);
}

std::string GroupName(EVP_PKEY* key) {
  char name[64];
  size_t length = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, &length) != 1) return {};
  return std::string(name, length);
}

// Field element size in bytes of an EC key's curve.
size_t EcFieldBytes(EVP_PKEY* key) { return (static_cast<size_t>(EVP_PKEY_get_bits(key)) + 7) / 8; }

bool BnBytes(v8::Isolate* isolate, EVP_PKEY* key, const char* param, size_t pad, v8::Local<v8::Value>* out) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, param, &raw) != 1) {
    Fail(isolate, "cannot read the key");
    return false;
  }
  Bn bn(raw);
  size_t size = pad > 0 ? pad : static_cast<size_t>(BN_num_bytes(bn.get()));
  Secret bytes(size);
  if (size > 0 && BN_bn2binpad(bn.get(), bytes.data(), static_cast<int>(size)) < 0) {
    Fail(isolate, "cannot read the key");
    return false;
  }
  return NewBuffer(isolate, bytes.data(), bytes.size(), out);
}

// keyInfo(der, isPrivate) -> [kind, canonicalDer, ...]: ["RSA", der, modulusBits,
// publicExponent], ["EC", der, curve], ["Ed25519", der] or ["X25519", der].
void KeyInfo(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  bool is_private = args[1]->IsTrue();
  PKey key;
  if (!KeyArg(args, 0, is_private, &key)) return;
  std::vector<v8::Local<v8::Value>> items;
  v8::Local<v8::Value> der;
  switch (EVP_PKEY_get_base_id(key.get())) {
    case EVP_PKEY_RSA: {
      // Sizes OpenSSL signs and verifies with, and a public exponent that can be one.
      int bits = EVP_PKEY_get_bits(key.get());
      BIGNUM* e = nullptr;
      if (EVP_PKEY_get_bn_param(key.get(), OSSL_PKEY_PARAM_RSA_E, &e) != 1) return Fail(isolate, "invalid RSA key");
      bool usable = bits >= 512 && bits <= OPENSSL_RSA_MAX_MODULUS_BITS && BN_is_odd(e) && !BN_is_one(e);
      BN_free(e);
      if (!usable) return Fail(isolate, "unsupported RSA modulus size or public exponent");
      v8::Local<v8::Value> exponent;
      if (!BnBytes(isolate, key.get(), OSSL_PKEY_PARAM_RSA_E, 0, &exponent)) return;
      if (!EncodeKey(isolate, key.get(), is_private, &der)) return;
      items = {NewString(isolate, "RSA"), der, v8::Number::New(isolate, EVP_PKEY_get_bits(key.get())), exponent};
      break;
    }
    case EVP_PKEY_EC: {
      const char* curve = CurveOfGroup(GroupName(key.get()));
      if (curve == nullptr) return Fail(isolate, "unsupported elliptic curve");
      PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
      int valid = !ctx ? 0 : is_private ? EVP_PKEY_check(ctx.get()) : EVP_PKEY_public_check(ctx.get());
      if (valid != 1) return Fail(isolate, "invalid elliptic curve key");
      if (!EncodeKey(isolate, key.get(), is_private, &der)) return;
      items = {NewString(isolate, "EC"), der, NewString(isolate, curve)};
      break;
    }
    case EVP_PKEY_ED25519:
    case EVP_PKEY_X25519:
      if (!EncodeKey(isolate, key.get(), is_private, &der)) return;
      items = {NewString(isolate, EVP_PKEY_get_base_id(key.get()) == EVP_PKEY_ED25519 ? "Ed25519" : "X25519"), der};
      break;
    default:
      return Fail(isolate, "unsupported key type");
  }
  ReturnArray(args, items);
}

// Builds a key from OpenSSL parameters. EC keys are then validated (point on the curve,
// scalar matching it); OpenSSL's RSA checks are SP 800-56B's and refuse keys WebCrypto accepts.
PKey FromData(const char* type, OSSL_PARAM_BLD* builder, bool is_private) {
  Params params(OSSL_PARAM_BLD_to_param(builder));
  PKeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, is_private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    return nullptr;
  }
  PKey key(raw);
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC) return key;
  PKeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  int valid = !check ? 0 : is_private ? EVP_PKEY_check(check.get()) : EVP_PKEY_public_check(check.get());
  if (valid != 1) return nullptr;
  return key;
}

// rsaFromComponents([n, e] or [n, e, d, p, q, dp, dq, qi]) -> SPKI or PKCS#8 DER.
void RsaFromComponents(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  if (!args[0]->IsArray()) return ThrowTypeError(isolate, "expected an array");
  auto array = args[0].As<v8::Array>();
  uint32_t count = array->Length();
  if (count != 2 && count != 8) return ThrowTypeError(isolate, "expected 2 or 8 components");
  static const char* const kNames[] = {
      OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,         OSSL_PKEY_PARAM_RSA_D,
      OSSL_PKEY_PARAM_RSA_FACTOR1,   OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
      OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
  };
  ParamBld builder(OSSL_PARAM_BLD_new());
  std::vector<Bn> numbers;
  for (uint32_t i = 0; i < count; i++) {
    v8::Local<v8::Value> item;
    std::string_view bytes;
    if (!array->Get(context, i).ToLocal(&item)) return;
    if (!BytesOf(item, &bytes) || bytes.empty() || bytes.size() > 4096) {
      return Fail(isolate, "invalid RSA key component");
    }
    numbers.emplace_back(BN_bin2bn(U(bytes), static_cast<int>(bytes.size()), nullptr));
    if (!numbers.back() || !builder || OSSL_PARAM_BLD_push_BN(builder.get(), kNames[i], numbers.back().get()) != 1) {
      return Fail(isolate, "invalid RSA key component");
    }
  }
  if (count == 8) {
    Bn product(BN_new());
    std::unique_ptr<BN_CTX, Deleter<BN_CTX, BN_CTX_free>> bn_ctx(BN_CTX_new());
    if (!product || !bn_ctx || BN_mul(product.get(), numbers[3].get(), numbers[4].get(), bn_ctx.get()) != 1 ||
        BN_cmp(product.get(), numbers[0].get()) != 0) {
      return Fail(isolate, "invalid RSA key: n is not p * q");
    }
  }
  PKey key = FromData("RSA", builder.get(), count == 8);
  if (!key) return Fail(isolate, "invalid RSA key");
  ReturnKey(args, key.get(), count == 8);
}

// rsaComponents(der, isPrivate) -> [n, e] or [n, e, d, p, q, dp, dq, qi], big-endian.
void RsaComponents(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  bool is_private = args[1]->IsTrue();
  PKey key;
  if (!KeyArg(args, 0, is_private, &key)) return;
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) return Fail(isolate, "not an RSA key");
  static const char* const kNames[] = {
      OSSL_PKEY_PARAM_RSA_N,         OSSL_PKEY_PARAM_RSA_E,         OSSL_PKEY_PARAM_RSA_D,
      OSSL_PKEY_PARAM_RSA_FACTOR1,   OSSL_PKEY_PARAM_RSA_FACTOR2,   OSSL_PKEY_PARAM_RSA_EXPONENT1,
      OSSL_PKEY_PARAM_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
  };
  std::vector<v8::Local<v8::Value>> items(is_private ? 8 : 2);
  for (size_t i = 0; i < items.size(); i++) {
    if (!BnBytes(isolate, key.get(), kNames[i], 0, &items[i])) return;
  }
  ReturnArray(args, items);
}

// ecFromComponents(curve, point, d?) -> SPKI, or PKCS#8 when the private scalar `d` is given.
void EcFromComponents(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  const char* group = GroupOfCurve(Utf8(isolate, args[0]));
  if (group == nullptr) return Fail(isolate, "unsupported elliptic curve");
  std::string_view point;
  if (!InputArg(args, 1, &point)) return;
  bool is_private = !args[2]->IsUndefined();
  std::string_view d;
  if (is_private && !InputArg(args, 2, &d)) return;
  ParamBld builder(OSSL_PARAM_BLD_new());
  Bn scalar(is_private ? BN_bin2bn(U(d), static_cast<int>(d.size()), nullptr) : nullptr);
  if (point.empty() || !builder ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1 ||
      (is_private && (!scalar || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_PRIV_KEY, scalar.get()) != 1))) {
    return Fail(isolate, "invalid elliptic curve key");
  }
  PKey key = FromData("EC", builder.get(), is_private);
  if (!key) return Fail(isolate, "invalid elliptic curve key");
  ReturnKey(args, key.get(), is_private);
}

// ecComponents(der, isPrivate) -> [uncompressed point, d or undefined], d padded to the field size.
void EcComponents(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  bool is_private = args[1]->IsTrue();
  PKey key;
  if (!KeyArg(args, 0, is_private, &key)) return;
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_EC) return Fail(isolate, "not an elliptic curve key");
  size_t size = EcFieldBytes(key.get());
  v8::Local<v8::Value> x;
  v8::Local<v8::Value> y;
  if (!BnBytes(isolate, key.get(), OSSL_PKEY_PARAM_EC_PUB_X, size, &x) ||
      !BnBytes(isolate, key.get(), OSSL_PKEY_PARAM_EC_PUB_Y, size, &y)) {
    return;
  }
  std::vector<unsigned char> point(1 + 2 * size);
  point[0] = 0x04;
  std::memcpy(point.data() + 1, x.As<v8::ArrayBuffer>()->Data(), size);
  std::memcpy(point.data() + 1 + size, y.As<v8::ArrayBuffer>()->Data(), size);
  std::vector<v8::Local<v8::Value>> items(2, v8::Undefined(isolate));
  if (!NewBuffer(isolate, point.data(), point.size(), &items[0])) return;
  if (is_private && !BnBytes(isolate, key.get(), OSSL_PKEY_PARAM_PRIV_KEY, size, &items[1])) return;
  ReturnArray(args, items);
}

int OkpType(const std::string& name) {
  if (name == "Ed25519") return EVP_PKEY_ED25519;
  if (name == "X25519") return EVP_PKEY_X25519;
  return EVP_PKEY_NONE;
}

// okpFromRaw(kind, bytes, isPrivate) -> SPKI or PKCS#8 DER of an Ed25519/X25519 key.
void OkpFromRaw(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  int type = OkpType(Utf8(isolate, args[0]));
  if (type == EVP_PKEY_NONE) return Fail(isolate, "unsupported key type");
  std::string_view raw;
  if (!InputArg(args, 1, &raw)) return;
  bool is_private = args[2]->IsTrue();
  if (raw.size() != 32) return Fail(isolate, "the key must be 32 bytes");
  PKey key(is_private ? EVP_PKEY_new_raw_private_key(type, nullptr, U(raw), raw.size())
                      : EVP_PKEY_new_raw_public_key(type, nullptr, U(raw), raw.size()));
  if (!key) return Fail(isolate, "invalid key");
  ReturnKey(args, key.get(), is_private);
}

// okpRaw(der, isPrivate) -> [public bytes, private bytes or undefined].
void OkpRaw(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  bool is_private = args[1]->IsTrue();
  PKey key;
  if (!KeyArg(args, 0, is_private, &key)) return;
  int type = EVP_PKEY_get_base_id(key.get());
  if (type != EVP_PKEY_ED25519 && type != EVP_PKEY_X25519) return Fail(isolate, "not an Ed25519 or X25519 key");
  Secret public_key(32);
  Secret private_key(32);
  size_t length = 32;
  if (EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &length) != 1 || length != 32) {
    return Fail(isolate, "cannot read the key");
  }
  std::vector<v8::Local<v8::Value>> items(2, v8::Undefined(isolate));
  if (!NewBuffer(isolate, public_key.data(), 32, &items[0])) return;
  if (is_private) {
    if (EVP_PKEY_get_raw_private_key(key.get(), private_key.data(), &length) != 1 || length != 32) {
      return Fail(isolate, "cannot read the key");
    }
    if (!NewBuffer(isolate, private_key.data(), 32, &items[1])) return;
  }
  ReturnArray(args, items);
}

// generateKeyPair("RSA", bits, exponentBytes) | ("EC", curve) | ("Ed25519") | ("X25519")
// -> [spki, pkcs8].
void GenerateKeyPair(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  std::string kind = Utf8(isolate, args[0]);
  const char* type = kind == "RSA" ? "RSA" : kind == "EC" ? "EC" : kind == "Ed25519" ? "ED25519"
                                   : kind == "X25519"   ? "X25519"
                                                        : nullptr;
  if (type == nullptr) return Fail(isolate, "unsupported key type");
  PKeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) return Fail(isolate, "key generation failed");
  if (kind == "RSA") {
    double bits;
    std::string_view exponent;
    if (!NumberArg(args, 1, 512, 16384, &bits) || !InputArg(args, 2, &exponent)) return;
    Bn e(BN_bin2bn(U(exponent), static_cast<int>(exponent.size()), nullptr));
    if (!e || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), static_cast<int>(bits)) != 1 ||
        EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx.get(), e.get()) != 1) {
      return Fail(isolate, "invalid RSA key parameters");
    }
  } else if (kind == "EC") {
    const char* group = GroupOfCurve(Utf8(isolate, args[1]));
    if (group == nullptr || EVP_PKEY_CTX_set_group_name(ctx.get(), group) != 1) {
      return Fail(isolate, "unsupported elliptic curve");
    }
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &raw) != 1) return Fail(isolate, "key generation failed");
  PKey key(raw);
  std::vector<v8::Local<v8::Value>> items(2);
  if (!EncodeKey(isolate, key.get(), false, &items[0]) || !EncodeKey(isolate, key.get(), true, &items[1])) return;
  ReturnArray(args, items);
}

// --- signatures ------------------------------------------------------------------------

// Prepares `md_ctx` for signing or verifying with the scheme `kind`.
bool SignatureInit(EVP_MD_CTX* md_ctx, const std::string& kind, const EVP_MD* md, EVP_PKEY* key, bool sign,
                   double salt_length) {
  int type = EVP_PKEY_get_base_id(key);
  bool rsa = kind == "RSASSA-PKCS1-v1_5" || kind == "RSA-PSS";
  if (rsa ? type != EVP_PKEY_RSA : kind == "ECDSA" ? type != EVP_PKEY_EC : type != EVP_PKEY_ED25519) return false;
  if (kind == "Ed25519") md = nullptr;
  EVP_PKEY_CTX* pctx = nullptr;
  int ok = sign ? EVP_DigestSignInit(md_ctx, &pctx, md, nullptr, key)
                : EVP_DigestVerifyInit(md_ctx, &pctx, md, nullptr, key);
  if (ok != 1) return false;
  if (kind == "RSASSA-PKCS1-v1_5") return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
  if (kind == "RSA-PSS") {
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, static_cast<int>(salt_length)) == 1;
  }
  return true;
}

// Arguments shared by sign and verify: kind, hash, key DER, then the data at `data_index`.
struct SignatureArgs {
  std::string kind;
  const EVP_MD* md = nullptr;
  PKey key;
  std::string_view data;
  double salt_length = 0;
};

bool ReadSignatureArgs(const Args& args, bool sign, int data_index, SignatureArgs* out) {
  v8::Isolate* isolate = args.GetIsolate();
  out->kind = Utf8(isolate, args[0]);
  out->md = DigestNamed(Utf8(isolate, args[1]));
  if (out->md == nullptr && out->kind != "Ed25519") {
    Fail(isolate, "unsupported digest algorithm");
    return false;
  }
  if (!KeyArg(args, 2, sign, &out->key) || !InputArg(args, data_index, &out->data)) return false;
  return out->kind != "RSA-PSS" || NumberArg(args, data_index + 1, 0, INT_MAX, &out->salt_length);
}

// sign(kind, hash, pkcs8, data, saltLength?) -> signature; ECDSA signatures are r || s.
void Sign(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  SignatureArgs in;
  if (!ReadSignatureArgs(args, true, 3, &in)) return;
  MdCtx ctx(EVP_MD_CTX_new());
  size_t length = 0;
  if (!ctx || !SignatureInit(ctx.get(), in.kind, in.md, in.key.get(), true, in.salt_length) ||
      EVP_DigestSign(ctx.get(), nullptr, &length, U(in.data), in.data.size()) != 1) {
    return Fail(isolate, "signing failed");
  }
  std::vector<unsigned char> signature(length);
  if (EVP_DigestSign(ctx.get(), signature.data(), &length, U(in.data), in.data.size()) != 1) {
    return Fail(isolate, "signing failed");
  }
  signature.resize(length);
  if (in.kind != "ECDSA") return ReturnBuffer(args, signature.data(), signature.size());
  const unsigned char* p = signature.data();
  EcdsaSig parsed(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(signature.size())));
  size_t size = EcFieldBytes(in.key.get());
  std::vector<unsigned char> raw(2 * size);
  if (!parsed || BN_bn2binpad(ECDSA_SIG_get0_r(parsed.get()), raw.data(), static_cast<int>(size)) < 0 ||
      BN_bn2binpad(ECDSA_SIG_get0_s(parsed.get()), raw.data() + size, static_cast<int>(size)) < 0) {
    return Fail(isolate, "signing failed");
  }
  ReturnBuffer(args, raw.data(), raw.size());
}

// verify(kind, hash, spki, signature, data, saltLength?) -> boolean.
void Verify(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  SignatureArgs in;
  std::string_view signature;
  if (!ReadSignatureArgs(args, false, 4, &in) || !InputArg(args, 3, &signature)) return;
  std::vector<unsigned char> der(signature.begin(), signature.end());
  if (in.kind == "ECDSA") {
    // WebCrypto's r || s, re-encoded as the DER that OpenSSL verifies.
    size_t size = EcFieldBytes(in.key.get());
    if (signature.size() != 2 * size) return args.GetReturnValue().Set(false);
    EcdsaSig sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(U(signature), static_cast<int>(size), nullptr);
    BIGNUM* s = BN_bin2bn(U(signature) + size, static_cast<int>(size), nullptr);
    if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
      BN_free(r);
      BN_free(s);
      return Fail(isolate, "verification failed");
    }
    int length = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (length <= 0) return Fail(isolate, "verification failed");
    der.resize(static_cast<size_t>(length));
    unsigned char* p = der.data();
    i2d_ECDSA_SIG(sig.get(), &p);
  }
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || !SignatureInit(ctx.get(), in.kind, in.md, in.key.get(), false, in.salt_length)) {
    return Fail(isolate, "verification failed");
  }
  int ok = EVP_DigestVerify(ctx.get(), der.empty() ? U({}) : der.data(), der.size(), U(in.data), in.data.size());
  args.GetReturnValue().Set(ok == 1);
}

// ecdh(privatePkcs8, publicSpki) -> the shared secret (ECDH or X25519).
void Ecdh(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  PKey own;
  PKey peer;
  if (!KeyArg(args, 0, true, &own) || !KeyArg(args, 1, false, &peer)) return;
  PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own.get(), nullptr));
  size_t length = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &length) != 1) {
    return Fail(isolate, "key agreement failed");
  }
  Secret secret(length);
  if (EVP_PKEY_derive(ctx.get(), secret.data(), &length) != 1) return Fail(isolate, "key agreement failed");
  ReturnBuffer(args, secret.data(), length);
}

// rsaOaep(encrypt, hash, der, data, label) -> ArrayBuffer (SPKI to encrypt, PKCS #8 to decrypt).
void RsaOaep(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  bool encrypt = args[0]->IsTrue();
  const EVP_MD* md = DigestNamed(Utf8(isolate, args[1]));
  if (md == nullptr) return Fail(isolate, "unsupported digest algorithm");
  PKey key;
  std::string_view data;
  std::string_view label;
  if (!KeyArg(args, 2, !encrypt, &key) || !InputArg(args, 3, &data) || !InputArg(args, 4, &label)) return;
  if (EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) return Fail(isolate, "not an RSA key");
  PKeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  // The context takes ownership of the label copy only on success.
  unsigned char* label_copy = label.empty() ? nullptr : static_cast<unsigned char*>(OPENSSL_memdup(label.data(), label.size()));
  if (!ctx || (encrypt ? EVP_PKEY_encrypt_init(ctx.get()) : EVP_PKEY_decrypt_init(ctx.get())) != 1 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md) != 1 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) != 1 ||
      (!label.empty() && (label_copy == nullptr ||
                          EVP_PKEY_CTX_set0_rsa_oaep_label(ctx.get(), label_copy, static_cast<int>(label.size())) != 1))) {
    OPENSSL_free(label_copy);
    return Fail(isolate, encrypt ? "encryption failed" : "decryption failed");
  }
  size_t length = 0;
  auto run = [&](unsigned char* out) {
    return encrypt ? EVP_PKEY_encrypt(ctx.get(), out, &length, U(data), data.size())
                   : EVP_PKEY_decrypt(ctx.get(), out, &length, U(data), data.size());
  };
  if (run(nullptr) != 1) return Fail(isolate, encrypt ? "encryption failed" : "decryption failed");
  Secret out(length);
  if (run(out.data()) != 1) return Fail(isolate, encrypt ? "encryption failed" : "decryption failed");
  ReturnBuffer(args, out.data(), length);
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

// One pass of `cipher` over `in`, appending to `out`. CBC pads (PKCS #7); GCM takes `aad`.
bool CipherPass(const EVP_CIPHER* cipher, bool encrypt, std::string_view key, std::string_view iv,
                std::string_view in, std::string_view aad, std::string_view tag, size_t tag_length,
                std::vector<unsigned char>* out) {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  bool gcm = EVP_CIPHER_get_mode(cipher) == EVP_CIPH_GCM_MODE;
  if (!ctx || EVP_CipherInit_ex(ctx.get(), cipher, nullptr, nullptr, nullptr, encrypt) != 1) return false;
  if (EVP_CIPHER_get_mode(cipher) == EVP_CIPH_WRAP_MODE) EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (gcm && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(iv.size()), nullptr) != 1) {
    return false;
  }
  if (EVP_CipherInit_ex(ctx.get(), nullptr, nullptr, U(key), iv.empty() ? nullptr : U(iv), encrypt) != 1) {
    return false;
  }
  int length = 0;
  if (gcm && !aad.empty() && EVP_CipherUpdate(ctx.get(), nullptr, &length, U(aad), static_cast<int>(aad.size())) != 1) {
    return false;
  }
  size_t start = out->size();
  out->resize(start + in.size() + 2 * EVP_MAX_BLOCK_LENGTH);
  int written = 0;
  if (!in.empty() &&
      EVP_CipherUpdate(ctx.get(), out->data() + start, &written, U(in), static_cast<int>(in.size())) != 1) {
    return false;
  }
  if (gcm && !encrypt &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag.size()),
                          const_cast<unsigned char*>(U(tag))) != 1) {
    return false;
  }
  int final_length = 0;
  if (EVP_CipherFinal_ex(ctx.get(), out->data() + start + written, &final_length) != 1) return false;
  out->resize(start + static_cast<size_t>(written + final_length));
  if (gcm && encrypt) {
    size_t end = out->size();
    out->resize(end + tag_length);
    if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_length), out->data() + end) != 1) {
      return false;
    }
  }
  return true;
}

// AES-CTR where only the low `bits` bits of the counter block count, wrapping within them
// (OpenSSL counts with all 128): split the input where those bits wrap to zero.
bool AesCtr(const EVP_CIPHER* cipher, std::string_view key, std::string_view counter, int bits,
            std::string_view in, std::vector<unsigned char>* out) {
  if (bits == 128) return CipherPass(cipher, true, key, counter, in, {}, {}, 0, out);
  unsigned __int128 value = 0;
  for (unsigned char c : counter) value = (value << 8) | c;
  unsigned __int128 capacity = static_cast<unsigned __int128>(1) << bits;
  unsigned __int128 low = value & (capacity - 1);
  unsigned __int128 blocks = (in.size() + 15) / 16;
  if (blocks > capacity) return false;  // the counter would repeat
  unsigned __int128 before_wrap = capacity - low;
  if (blocks <= before_wrap) return CipherPass(cipher, true, key, counter, in, {}, {}, 0, out);
  size_t first = static_cast<size_t>(before_wrap) * 16;
  if (!CipherPass(cipher, true, key, counter, in.substr(0, first), {}, {}, 0, out)) return false;
  unsigned __int128 wrapped = value - low;
  unsigned char next[16];
  for (int i = 15; i >= 0; i--, wrapped >>= 8) next[i] = static_cast<unsigned char>(wrapped);
  return CipherPass(cipher, true, key, std::string_view(reinterpret_cast<char*>(next), 16), in.substr(first), {}, {},
                    0, out);
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
  std::vector<unsigned char> out;
  bool ok = false;
  if (mode == "GCM") {
    std::string_view aad;
    double tag_length;
    if (!InputArg(args, 5, &aad) || !NumberArg(args, 6, 4, 16, &tag_length)) return;
    if (iv.empty()) return Fail(isolate, "the iv must not be empty");
    size_t tag_size = static_cast<size_t>(tag_length);
    if (!encrypt && data.size() < tag_size) return Fail(isolate, "the data is shorter than the tag");
    std::string_view body = encrypt ? data : data.substr(0, data.size() - tag_size);
    std::string_view tag = encrypt ? std::string_view() : data.substr(data.size() - tag_size);
    ok = CipherPass(cipher, encrypt, key, iv, body, aad, tag, tag_size, &out);
  } else if (mode == "CBC") {
    if (iv.size() != 16) return Fail(isolate, "the iv must be 16 bytes");
    ok = CipherPass(cipher, encrypt, key, iv, data, {}, {}, 0, &out);
  } else if (mode == "CTR") {
    double bits;
    if (!NumberArg(args, 5, 1, 128, &bits)) return;
    if (iv.size() != 16) return Fail(isolate, "the counter must be 16 bytes");
    ok = AesCtr(cipher, key, iv, static_cast<int>(bits), data, &out);
  } else {
    if (data.size() % 8 != 0 || data.size() < (encrypt ? 16u : 24u)) {
      return Fail(isolate, "the data must be a multiple of 8 bytes and at least 16 bytes of key");
    }
    ok = CipherPass(cipher, encrypt, key, {}, data, {}, {}, 0, &out);
  }
  if (!ok) {
    OPENSSL_cleanse(out.data(), out.size());
    return Fail(isolate, encrypt ? "encryption failed" : "decryption failed");
  }
  ReturnBuffer(args, out.data(), out.size());
  OPENSSL_cleanse(out.data(), out.size());
}

// --- key derivation --------------------------------------------------------------------

// pbkdf2(hash, password, salt, iterations, bytes) -> ArrayBuffer.
void Pbkdf2(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  const EVP_MD* md = DigestNamed(Utf8(isolate, args[0]));
  if (md == nullptr) return Fail(isolate, "unsupported digest algorithm");
  std::string_view password;
  std::string_view salt;
  double iterations;
  double length;
  if (!InputArg(args, 1, &password) || !InputArg(args, 2, &salt) || !NumberArg(args, 3, 1, INT_MAX, &iterations) ||
      !NumberArg(args, 4, 0, 1 << 20, &length)) {
    return;
  }
  Secret out(static_cast<size_t>(length));
  if (out.size() > 0 &&
      PKCS5_PBKDF2_HMAC(reinterpret_cast<const char*>(U(password)), static_cast<int>(password.size()), U(salt),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), md,
                        static_cast<int>(out.size()), out.data()) != 1) {
    return Fail(isolate, "PBKDF2 failed");
  }
  ReturnBuffer(args, out.data(), out.size());
}

// hkdf(hash, key, salt, info, bytes) -> ArrayBuffer (RFC 5869 extract-then-expand).
void Hkdf(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  std::string hash = Utf8(isolate, args[0]);
  const EVP_MD* md = DigestNamed(hash);
  if (md == nullptr) return Fail(isolate, "unsupported digest algorithm");
  std::string_view key;
  std::string_view salt;
  std::string_view info;
  double length;
  if (!InputArg(args, 1, &key) || !InputArg(args, 2, &salt) || !InputArg(args, 3, &info) ||
      !NumberArg(args, 4, 0, 255.0 * EVP_MD_get_size(md), &length)) {
    return;
  }
  Secret out(static_cast<size_t>(length));
  if (out.size() == 0) return ReturnBuffer(args, nullptr, 0);
  // RFC 5869: an absent salt is HashLen zero bytes, which is what an empty HMAC key means.
  Secret prk(static_cast<size_t>(EVP_MD_get_size(md)));
  unsigned int prk_length = 0;
  if (HMAC(md, U(salt), static_cast<int>(salt.size()), U(key), key.size(), prk.data(), &prk_length) == nullptr) {
    return Fail(isolate, "HKDF failed");
  }
  Kdf kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  KdfCtx ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
  int expand_only = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(EVP_MD_get0_name(md)), 0),
      OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &expand_only),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, prk.data(), prk_length),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<unsigned char*>(U(info)), info.size()),
      OSSL_PARAM_construct_end(),
  };
  if (!ctx || EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) return Fail(isolate, "HKDF failed");
  ReturnBuffer(args, out.data(), out.size());
}

// --- the natives that predate crypto.subtle's asymmetric keys ---------------------------

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
  if (HMAC(md, U(key), static_cast<int>(key.size()), U(data), data.size(), out, &length) == nullptr) {
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
      {"keyInfo", KeyInfo},
      {"rsaFromComponents", RsaFromComponents},
      {"rsaComponents", RsaComponents},
      {"ecFromComponents", EcFromComponents},
      {"ecComponents", EcComponents},
      {"okpFromRaw", OkpFromRaw},
      {"okpRaw", OkpRaw},
      {"generateKeyPair", GenerateKeyPair},
      {"sign", Sign},
      {"verify", Verify},
      {"ecdh", Ecdh},
      {"rsaOaep", RsaOaep},
      {"aes", Aes},
      {"pbkdf2", Pbkdf2},
      {"hkdf", Hkdf},
  };
}

}  // namespace pyruntime
