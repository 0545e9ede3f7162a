// Natives for crypto (OpenSSL 3): randomness and the asymmetric primitives behind
// crypto.subtle (keys, signatures, key agreement, RSA-OAEP); digests, HMAC, AES and key
// derivation are in crypto_symmetric_natives.cc. They are stateless: keys arrive from JS as
// bytes on every call (SPKI or PKCS#8 DER for asymmetric keys, raw bytes for secret keys) and
// no OpenSSL object outlives a call. Work that grows with an input runs in steps that stop at
// the call's limit (ext/interruptible.h); what OpenSSL cannot split is capped below. A failure throws a plain Error; the JS side (ext/js/30_crypto.js … 34_crypto_kdf.js)
// turns it into the DOMException WebCrypto specifies for the operation.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
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

#include "crypto_util.h"
#include "js_util.h"
#include "native_bindings.h"

namespace pyruntime {

namespace {

using namespace crypto;  // the helpers shared with the symmetric natives (crypto_util.h)

using PKey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PKeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using Bn = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_clear_free>>;
using ParamBld = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>>;
using Params = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM, OSSL_PARAM_free>>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using P8Info = std::unique_ptr<PKCS8_PRIV_KEY_INFO, Deleter<PKCS8_PRIV_KEY_INFO, PKCS8_PRIV_KEY_INFO_free>>;

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

// RSA moduli past this are refused on import: one private-key operation with an 8192-bit
// key takes about 60 ms here, and cost grows with the cube of the size. Generation stops
// at 4096 bits (in JS). Public exponents are at most 33 bits, as in Chromium, so that
// public-key operations stay cheap.
constexpr int kMaxRsaModulusBits = 8192;
constexpr int kMaxRsaExponentBits = 33;

// EdDSA hashes the whole message twice inside one OpenSSL call that cannot be split, and
// RSA-OAEP hashes its label likewise: longer inputs are refused. Measured here, 4 MiB take
// about 17 ms to sign with Ed25519 and 27 ms with Ed448.
constexpr size_t kMaxOneShotBytes = 4u << 20;

// The "octet key pair" algorithms: Ed25519, Ed448, X25519, X448.
struct Okp {
  const char* name;   // WebCrypto's and OpenSSL's key type name
  int type;           // EVP_PKEY_*
  size_t key_bytes;   // raw public and private key size
};
constexpr Okp kOkps[] = {
    {"Ed25519", EVP_PKEY_ED25519, 32},
    {"Ed448", EVP_PKEY_ED448, 57},
    {"X25519", EVP_PKEY_X25519, 32},
    {"X448", EVP_PKEY_X448, 56},
};

const Okp* OkpNamed(const std::string& name) {
  for (const Okp& okp : kOkps) {
    if (name == okp.name) return &okp;
  }
  return nullptr;
}

const Okp* OkpOfType(int type) {
  for (const Okp& okp : kOkps) {
    if (type == okp.type) return &okp;
  }
  return nullptr;
}

bool IsEdDsa(int type) { return type == EVP_PKEY_ED25519 || type == EVP_PKEY_ED448; }

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
// publicExponent], ["EC", der, curve], or [okpName, der] for Ed25519, Ed448, X25519, X448.
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
      bool odd = BN_is_odd(e) && !BN_is_one(e);
      int exponent_bits = BN_num_bits(e);
      BN_free(e);
      if (bits < 512 || bits > kMaxRsaModulusBits) {
        return Fail(isolate, "unsupported RSA modulus length " + std::to_string(bits) + " (512 to " +
                                 std::to_string(kMaxRsaModulusBits) + " bits)");
      }
      if (!odd || exponent_bits > kMaxRsaExponentBits) {
        return Fail(isolate, "unsupported RSA public exponent (an odd number above 1, at most " +
                                 std::to_string(kMaxRsaExponentBits) + " bits)");
      }
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
    default: {
      const Okp* okp = OkpOfType(EVP_PKEY_get_base_id(key.get()));
      if (okp == nullptr) return Fail(isolate, "unsupported key type");
      if (!EncodeKey(isolate, key.get(), is_private, &der)) return;
      items = {NewString(isolate, okp->name), der};
    }
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

// okpFromRaw(kind, bytes, isPrivate) -> SPKI or PKCS#8 DER of an Ed25519, Ed448, X25519 or X448 key.
void OkpFromRaw(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  const Okp* okp = OkpNamed(Utf8(isolate, args[0]));
  if (okp == nullptr) return Fail(isolate, "unsupported key type");
  std::string_view raw;
  if (!InputArg(args, 1, &raw)) return;
  bool is_private = args[2]->IsTrue();
  if (raw.size() != okp->key_bytes) {
    return Fail(isolate, std::string("the ") + okp->name + " key must be " + std::to_string(okp->key_bytes) + " bytes");
  }
  PKey key(is_private ? EVP_PKEY_new_raw_private_key(okp->type, nullptr, U(raw), raw.size())
                      : EVP_PKEY_new_raw_public_key(okp->type, nullptr, U(raw), raw.size()));
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
  const Okp* okp = OkpOfType(EVP_PKEY_get_base_id(key.get()));
  if (okp == nullptr) return Fail(isolate, "not an Ed25519, Ed448, X25519 or X448 key");
  size_t size = okp->key_bytes;
  Secret public_key(size);
  Secret private_key(size);
  size_t length = size;
  if (EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &length) != 1 || length != size) {
    return Fail(isolate, "cannot read the key");
  }
  std::vector<v8::Local<v8::Value>> items(2, v8::Undefined(isolate));
  if (!NewBuffer(isolate, public_key.data(), size, &items[0])) return;
  if (is_private) {
    if (EVP_PKEY_get_raw_private_key(key.get(), private_key.data(), &length) != 1 || length != size) {
      return Fail(isolate, "cannot read the key");
    }
    if (!NewBuffer(isolate, private_key.data(), size, &items[1])) return;
  }
  ReturnArray(args, items);
}

// OpenSSL's progress callback during RSA prime search: returning 0 abandons the generation,
// which is how a call past its limit stops in the middle of it.
int KeygenProgress(EVP_PKEY_CTX* ctx) {
  return StopRequested(static_cast<v8::Isolate*>(EVP_PKEY_CTX_get_app_data(ctx))) ? 0 : 1;
}

// generateKeyPair("RSA", bits, exponentBytes) | ("EC", curve) | (okpName) -> [spki, pkcs8].
void GenerateKeyPair(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  std::string kind = Utf8(isolate, args[0]);
  const Okp* okp = OkpNamed(kind);
  const char* type = kind == "RSA" ? "RSA" : kind == "EC" ? "EC" : okp != nullptr ? okp->name : nullptr;
  if (type == nullptr) return Fail(isolate, "unsupported key type");
  PKeyCtx ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) return Fail(isolate, "key generation failed");
  if (kind == "RSA") {
    double bits;
    std::string_view exponent;
    if (!NumberArg(args, 1, 512, kMaxRsaModulusBits, &bits) || !InputArg(args, 2, &exponent)) return;
    Bn e(BN_bin2bn(U(exponent), static_cast<int>(exponent.size()), nullptr));
    if (!e || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), static_cast<int>(bits)) != 1 ||
        EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx.get(), e.get()) != 1) {
      return Fail(isolate, "invalid RSA key parameters");
    }
    EVP_PKEY_CTX_set_app_data(ctx.get(), isolate);
    EVP_PKEY_CTX_set_cb(ctx.get(), KeygenProgress);
  } else if (kind == "EC") {
    const char* group = GroupOfCurve(Utf8(isolate, args[1]));
    if (group == nullptr || EVP_PKEY_CTX_set_group_name(ctx.get(), group) != 1) {
      return Fail(isolate, "unsupported elliptic curve");
    }
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_generate(ctx.get(), &raw) != 1) {
    return StopRequested(isolate) ? ThrowStopped(isolate) : Fail(isolate, "key generation failed");
  }
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
  int expected = rsa ? EVP_PKEY_RSA : kind == "ECDSA" ? EVP_PKEY_EC : kind == "Ed25519" ? EVP_PKEY_ED25519
                                                    : kind == "Ed448"   ? EVP_PKEY_ED448
                                                                        : EVP_PKEY_NONE;
  if (type != expected) return false;
  if (IsEdDsa(type)) md = nullptr;
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
  bool eddsa = out->kind == "Ed25519" || out->kind == "Ed448";
  if (out->md == nullptr && !eddsa) {
    Fail(isolate, "unsupported digest algorithm");
    return false;
  }
  if (!KeyArg(args, 2, sign, &out->key) || !InputArg(args, data_index, &out->data)) return false;
  if (eddsa && out->data.size() > kMaxOneShotBytes) {
    Fail(isolate, out->kind + " messages are limited to " + std::to_string(kMaxOneShotBytes) +
                      " bytes (EdDSA hashes the whole message in one step that cannot be interrupted)");
    return false;
  }
  return out->kind != "RSA-PSS" || NumberArg(args, data_index + 1, 0, INT_MAX, &out->salt_length);
}

// Hashes the message into a signing or verifying context in steps (EdDSA cannot: its
// one-shot call is bounded by kMaxOneShotBytes instead).
bool SignatureUpdate(v8::Isolate* isolate, EVP_MD_CTX* ctx, bool sign, std::string_view data) {
  auto update = [&](std::string_view piece) {
    return (sign ? EVP_DigestSignUpdate(ctx, piece.data(), piece.size())
                 : EVP_DigestVerifyUpdate(ctx, piece.data(), piece.size())) == 1;
  };
  return Feed(isolate, data, update, sign ? "signing failed" : "verification failed");
}

// sign(kind, hash, pkcs8, data, saltLength?) -> signature; ECDSA signatures are r || s.
void Sign(const Args& args) {
  ClearErrors clear;
  v8::Isolate* isolate = args.GetIsolate();
  SignatureArgs in;
  if (!ReadSignatureArgs(args, true, 3, &in)) return;
  MdCtx ctx(EVP_MD_CTX_new());
  size_t length = 0;
  if (!ctx || !SignatureInit(ctx.get(), in.kind, in.md, in.key.get(), true, in.salt_length)) {
    return Fail(isolate, "signing failed");
  }
  bool eddsa = IsEdDsa(EVP_PKEY_get_base_id(in.key.get()));
  if (!eddsa && !SignatureUpdate(isolate, ctx.get(), true, in.data)) return;
  int ok = eddsa ? EVP_DigestSign(ctx.get(), nullptr, &length, U(in.data), in.data.size())
                 : EVP_DigestSignFinal(ctx.get(), nullptr, &length);
  if (ok != 1) return Fail(isolate, "signing failed");
  std::vector<unsigned char> signature(length);
  ok = eddsa ? EVP_DigestSign(ctx.get(), signature.data(), &length, U(in.data), in.data.size())
             : EVP_DigestSignFinal(ctx.get(), signature.data(), &length);
  if (ok != 1) return Fail(isolate, "signing failed");
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
  const unsigned char* sig = der.empty() ? U({}) : der.data();
  int ok;
  if (IsEdDsa(EVP_PKEY_get_base_id(in.key.get()))) {
    ok = EVP_DigestVerify(ctx.get(), sig, der.size(), U(in.data), in.data.size());
  } else {
    if (!SignatureUpdate(isolate, ctx.get(), false, in.data)) return;
    ok = EVP_DigestVerifyFinal(ctx.get(), sig, der.size());
  }
  args.GetReturnValue().Set(ok == 1);
}

// ecdh(privatePkcs8, publicSpki) -> the shared secret (ECDH, X25519 or X448).
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
  if (label.size() > kMaxOneShotBytes) {
    return Fail(isolate, "RSA-OAEP labels are limited to " + std::to_string(kMaxOneShotBytes) + " bytes");
  }
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

// --- the natives that predate crypto.subtle's asymmetric keys ---------------------------

// randomFill(view): in steps, since key generation may ask for large keys (HMAC lengths).
void RandomFill(const Args& args) {
  std::string_view bytes;
  if (!RequireBytes(args, 0, &bytes)) return;
  auto fill = [&](std::string_view piece) {
    auto* out = reinterpret_cast<unsigned char*>(const_cast<char*>(piece.data()));
    return RAND_bytes(out, static_cast<int>(piece.size())) == 1;
  };
  bool failed = false;
  if (!InSteps(args.GetIsolate(), bytes, [&](std::string_view piece) { return !(failed = !fill(piece)); }) && failed) {
    ThrowTypeError(args.GetIsolate(), "the random number generator failed");
  }
}

// copyBytes(view) -> ArrayBuffer holding a copy, made in steps.
void CopyBytes(const Args& args) {
  v8::Isolate* isolate = args.GetIsolate();
  std::string_view from;
  v8::Local<v8::ArrayBuffer> buffer;
  if (!RequireBytes(args, 0, &from) || !NewArrayBuffer(isolate, from.size()).ToLocal(&buffer)) return;
  auto* to = static_cast<char*>(buffer->Data());
  bool copied = InSteps(isolate, from, [&](std::string_view piece) {
    std::memcpy(to + (piece.data() - from.data()), piece.data(), piece.size());
    return true;
  });
  if (copied) args.GetReturnValue().Set(buffer);
}

void TimingSafeEqual(const Args& args) {
  std::string_view a;
  std::string_view b;
  if (!RequireBytes(args, 0, &a) || !RequireBytes(args, 1, &b)) return;
  args.GetReturnValue().Set(a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0);
}

}  // namespace

std::vector<NativeFunction> CryptoNatives() {
  std::vector<NativeFunction> natives = SymmetricCryptoNatives();
  natives.insert(natives.end(), {
      {"randomFill", RandomFill},
      {"copyBytes", CopyBytes},
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
  });
  return natives;
}

}  // namespace pyruntime
