"""crypto.subtle beyond digests and HMAC: RSA, ECDSA, ECDH, Ed25519, Ed448, X25519, X448, AES, PBKDF2,
HKDF, wrapKey/unwrapKey, and the size limits that keep native work bounded. Checked against Python's
`cryptography` and hashlib (interoperability both ways) and published test vectors (RFC 3394, 5869, 6070,
7515, 8032)."""

import base64
import hashlib
import hmac
import json
import os

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.padding import PKCS7

import pyruntime

SUBTLE = "const s = crypto.subtle; const enc = (t) => new TextEncoder().encode(t);"


@pytest.fixture(scope="module")
def iso():
    # RSA key generation runs for a while in native code: roomy limits.
    isolate = pyruntime.Isolate(timeout_ms=20000, cpu_limit_ms=20000)
    yield isolate
    isolate.close()


def js(iso, body, *args):
    """Runs `body` as an async function of `a` (the converted Python `args`)."""
    iso.eval(f"globalThis.__test = async (...a) => {{ {SUBTLE} {body} }}; undefined")
    return iso.call("__test", *args)


def error_of(iso, body, *args):
    """The name of what `body` throws, or "none"."""
    return js(iso, f"try {{ await (async () => {{ {body} }})(); return 'none'; }} catch (e) {{ return e.name; }}",
              *args)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_public(key) -> bytes:
    if hasattr(key, "private_bytes"):
        key = key.public_key()
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def der_private(key) -> bytes:
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def jwt(header: dict, payload: dict) -> bytes:
    return (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(payload).encode())).encode()


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# --- RSA ----------------------------------------------------------------------------------


def test_jwt_rs256_made_in_python_verifies_in_js(iso, rsa_key):
    signing_input = jwt({"alg": "RS256", "typ": "JWT"}, {"sub": "42"})
    signature = rsa_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    numbers = rsa_key.public_key().public_numbers()
    jwk = {"kty": "RSA", "n": b64url(numbers.n.to_bytes(256, "big")), "e": "AQAB", "alg": "RS256"}
    assert js(iso, """
        const alg = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
        const spki = await s.importKey('spki', a[0], alg, false, ['verify']);
        const fromJwk = await s.importKey('jwk', a[1], { name: 'rsassa-pkcs1-v1_5', hash: { name: 'sha-256' } },
                                          true, ['verify']);
        return [await s.verify('RSASSA-PKCS1-v1_5', spki, a[2], a[3]),
                await s.verify(alg, fromJwk, a[2], a[3]),
                await s.verify(alg, spki, a[2], enc('tampered')),
                spki.type, spki.algorithm, fromJwk.usages];
    """, der_public(rsa_key), jwk, signature, signing_input) == [
        True, True, False, "public",
        {"name": "RSASSA-PKCS1-v1_5", "modulusLength": 2048, "publicExponent": b"\x01\x00\x01",
         "hash": {"name": "SHA-256"}},
        ["verify"],
    ]


@pytest.mark.parametrize("scheme", ["RSASSA-PKCS1-v1_5", "RSA-PSS"])
def test_rsa_signed_in_js_verifies_in_python(iso, rsa_key, scheme):
    message = b"signed in V8"
    signature = js(iso, """
        const k = await s.importKey('pkcs8', a[0], { name: a[1], hash: 'SHA-384' }, false, ['sign']);
        return s.sign({ name: a[1], saltLength: 48 }, k, a[2]);
    """, der_private(rsa_key), scheme, message)
    pad = padding.PKCS1v15() if scheme == "RSASSA-PKCS1-v1_5" else padding.PSS(padding.MGF1(hashes.SHA384()), 48)
    rsa_key.public_key().verify(signature, message, pad, hashes.SHA384())


def test_ps256_made_in_python_verifies_in_js(iso, rsa_key):
    message = jwt({"alg": "PS256"}, {"iat": 1})
    signature = rsa_key.sign(message, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    assert js(iso, """
        const k = await s.importKey('spki', a[0], { name: 'RSA-PSS', hash: 'SHA-256' }, false, ['verify']);
        return [await s.verify({ name: 'RSA-PSS', saltLength: 32 }, k, a[1], a[2]),
                await s.verify({ name: 'RSA-PSS', saltLength: 20 }, k, a[1], a[2])];
    """, der_public(rsa_key), signature, message) == [True, False]


def test_rsa_generate_and_jwk_round_trip(iso):
    result = js(iso, """
        const alg = { name: 'RSA-PSS', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]),
                      hash: 'SHA-256' };
        const { publicKey, privateKey } = await s.generateKey(alg, true, ['sign', 'verify']);
        const jwk = await s.exportKey('jwk', privateKey);
        const again = await s.importKey('jwk', jwk, { name: 'RSA-PSS', hash: 'SHA-256' }, true, ['sign']);
        const sig = await s.sign({ name: 'RSA-PSS', saltLength: 32 }, again, enc('x'));
        const pkcs8 = new Uint8Array(await s.exportKey('pkcs8', privateKey));
        const pkcs8Again = new Uint8Array(await s.exportKey('pkcs8', again));
        return [publicKey.usages, privateKey.usages, publicKey.extractable, Object.keys(jwk).sort(), jwk.alg,
                await s.verify({ name: 'RSA-PSS', saltLength: 32 }, publicKey, sig, enc('x')),
                pkcs8.join() === pkcs8Again.join(), await s.exportKey('spki', publicKey)];
    """)
    assert result[:7] == [["verify"], ["sign"], True,
                          ["alg", "d", "dp", "dq", "e", "ext", "key_ops", "kty", "n", "p", "q", "qi"], "PS256",
                          True, True]
    public = serialization.load_der_public_key(result[7])
    assert public.key_size == 1024 and public.public_numbers().e == 65537


def test_rsa_oaep_interop(iso, rsa_key):
    ciphertext = rsa_key.public_key().encrypt(
        b"secret", padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), b"label"))
    plain, js_ciphertext = js(iso, """
        const alg = { name: 'RSA-OAEP', hash: 'SHA-256' };
        const priv = await s.importKey('pkcs8', a[0], alg, false, ['decrypt']);
        const pub = await s.importKey('spki', a[1], alg, false, ['encrypt']);
        return [await s.decrypt({ name: 'RSA-OAEP', label: enc('label') }, priv, a[2]),
                await s.encrypt({ name: 'RSA-OAEP' }, pub, enc('from js'))];
    """, der_private(rsa_key), der_public(rsa_key), ciphertext)
    assert plain == b"secret"
    assert rsa_key.decrypt(js_ciphertext, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)) \
        == b"from js"


# --- ECDSA --------------------------------------------------------------------------------


@pytest.mark.parametrize("curve, size, hash_name, py_hash", [
    ("P-256", 32, "SHA-256", hashes.SHA256()),
    ("P-384", 48, "SHA-384", hashes.SHA384()),
    ("P-521", 66, "SHA-512", hashes.SHA512()),
])
def test_ecdsa_interop(iso, curve, size, hash_name, py_hash):
    py_curve = {"P-256": ec.SECP256R1(), "P-384": ec.SECP384R1(), "P-521": ec.SECP521R1()}[curve]
    key = ec.generate_private_key(py_curve)
    message = jwt({"alg": "ES256"}, {"sub": "x"})
    r, s_ = decode_dss_signature(key.sign(message, ec.ECDSA(py_hash)))
    raw_signature = r.to_bytes(size, "big") + s_.to_bytes(size, "big")
    numbers = key.public_key().public_numbers()
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    jwk = {"kty": "EC", "crv": curve, "x": b64url(numbers.x.to_bytes(size, "big")),
           "y": b64url(numbers.y.to_bytes(size, "big"))}
    verified, js_signature, exported = js(iso, """
        const [curve, hash, spki, pkcs8, raw, jwk, sig, msg] = a;
        const alg = { name: 'ECDSA', namedCurve: curve };
        const keys = [await s.importKey('spki', spki, alg, true, ['verify']),
                      await s.importKey('raw', raw, alg, true, ['verify']),
                      await s.importKey('jwk', jwk, alg, true, ['verify'])];
        const results = [];
        for (const k of keys) {
          results.push(await s.verify({ name: 'ECDSA', hash }, k, sig, msg));
          results.push(await s.verify({ name: 'ECDSA', hash }, k, sig, enc('other')));
        }
        const priv = await s.importKey('pkcs8', pkcs8, alg, true, ['sign']);
        const mine = await s.sign({ name: 'ECDSA', hash }, priv, msg);
        const privJwk = await s.exportKey('jwk', priv);
        return [results, mine, [await s.exportKey('raw', keys[2]), await s.exportKey('jwk', keys[0]), privJwk.d,
                                await s.exportKey('spki', keys[1])]];
    """, curve, hash_name, der_public(key), der_private(key), point, jwk, raw_signature, message)
    assert verified == [True, False] * 3
    assert len(js_signature) == 2 * size
    key.public_key().verify(encode_dss_signature(int.from_bytes(js_signature[:size], "big"),
                                                 int.from_bytes(js_signature[size:], "big")),
                            message, ec.ECDSA(py_hash))
    assert exported[0] == point
    assert exported[1] == {**jwk, "key_ops": ["verify"], "ext": True}
    assert exported[2] == b64url(key.private_numbers().private_value.to_bytes(size, "big"))
    assert exported[3] == der_public(key)


def test_ecdsa_compressed_raw_point_exports_uncompressed(iso):
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    compressed = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    assert js(iso, """
        const k = await s.importKey('raw', a[0], { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify']);
        return s.exportKey('raw', k);
    """, compressed) == key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def test_ecdsa_generate_key(iso):
    assert js(iso, """
        const { publicKey, privateKey } = await s.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, false,
                                                              ['verify', 'sign']);
        const sig = await s.sign({ name: 'ECDSA', hash: 'SHA-256' }, privateKey, enc('m'));
        return [publicKey.algorithm, privateKey.extractable, publicKey.extractable, sig.byteLength,
                await s.verify({ name: 'ECDSA', hash: 'SHA-256' }, publicKey, sig, enc('m')),
                await s.verify({ name: 'ECDSA', hash: 'SHA-256' }, publicKey, sig.slice(1), enc('m'))];
    """) == [{"name": "ECDSA", "namedCurve": "P-384"}, False, True, 96, True, False]


# --- Ed25519 (RFC 8032 §7.1, test 2) -------------------------------------------------------

ED_SECRET = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
ED_PUBLIC = bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
ED_SIGNATURE = bytes.fromhex(
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")


def test_ed25519_rfc8032_vector(iso):
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url(ED_PUBLIC), "d": b64url(ED_SECRET)}
    assert js(iso, """
        const priv = await s.importKey('jwk', a[0], 'Ed25519', true, ['sign']);
        const pub = await s.importKey('raw', a[1], { name: 'ed25519' }, true, ['verify']);
        return [await s.sign('Ed25519', priv, new Uint8Array([0x72])),
                await s.verify('Ed25519', pub, a[2], new Uint8Array([0x72])),
                await s.verify('Ed25519', pub, a[2], new Uint8Array([0x73])),
                await s.exportKey('jwk', priv), await s.exportKey('raw', pub)];
    """, jwk, ED_PUBLIC, ED_SIGNATURE) == [
        ED_SIGNATURE, True, False, {**jwk, "key_ops": ["sign"], "ext": True}, ED_PUBLIC,
    ]


def test_ed25519_interop(iso):
    key = ed25519.Ed25519PrivateKey.generate()
    signature = key.sign(b"from python")
    verified, js_signature, spki = js(iso, """
        const pub = await s.importKey('spki', a[0], 'Ed25519', true, ['verify']);
        const priv = await s.importKey('pkcs8', a[1], 'Ed25519', false, ['sign']);
        return [await s.verify('Ed25519', pub, a[2], enc('from python')), await s.sign('Ed25519', priv, enc('js')),
                await s.exportKey('spki', (await s.generateKey('Ed25519', true, ['sign', 'verify'])).publicKey)];
    """, der_public(key), der_private(key), signature)
    assert verified is True
    key.public_key().verify(js_signature, b"js")
    assert isinstance(serialization.load_der_public_key(spki), ed25519.Ed25519PublicKey)


# --- ECDH and X25519 ---------------------------------------------------------------------


@pytest.mark.parametrize("curve, py_curve, bits", [("P-256", ec.SECP256R1(), 256), ("P-384", ec.SECP384R1(), 384)])
def test_ecdh_interop(iso, curve, py_curve, bits):
    mine = ec.generate_private_key(py_curve)
    theirs = ec.generate_private_key(py_curve)
    expected = mine.exchange(ec.ECDH(), theirs.public_key())
    assert js(iso, """
        const alg = { name: 'ECDH', namedCurve: a[0] };
        const priv = await s.importKey('pkcs8', a[1], alg, false, ['deriveBits', 'deriveKey']);
        const pub = await s.importKey('spki', a[2], alg, true, []);
        const all = await s.deriveBits({ name: 'ECDH', public: pub }, priv, a[3]);
        const some = new Uint8Array(await s.deriveBits({ name: 'ECDH', public: pub }, priv, 12));
        const key = await s.deriveKey({ name: 'ECDH', public: pub }, priv, { name: 'AES-GCM', length: 128 }, true,
                                      ['encrypt']);
        return [all, Array.from(some), await s.exportKey('raw', key), pub.usages];
    """, curve, der_private(mine), der_public(theirs), bits) == [
        expected, [expected[0], expected[1] & 0xF0], expected[:16], [],
    ]


def test_x25519_interop(iso):
    mine = x25519.X25519PrivateKey.generate()
    theirs = x25519.X25519PrivateKey.generate()
    theirs_raw = theirs.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert js(iso, """
        const priv = await s.importKey('pkcs8', a[0], 'X25519', false, ['deriveBits']);
        const pub = await s.importKey('raw', a[1], 'X25519', true, []);
        return s.deriveBits({ name: 'X25519', public: pub }, priv, 256);
    """, der_private(mine), theirs_raw) == mine.exchange(theirs.public_key())


# --- Ed448 and X448 ------------------------------------------------------------------------


def raw_public(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def raw_private(key) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


def test_ed448_python_keys_in_js():
    key = ed448.Ed448PrivateKey.generate()
    signature = key.sign(b"from python")
    jwk = {"kty": "OKP", "crv": "Ed448", "x": b64url(raw_public(key)), "d": b64url(raw_private(key))}
    with pyruntime.Isolate(timeout_ms=None, cpu_limit_ms=5000) as iso:
        verified, forged, js_signature, from_jwk, exported = js(iso, """
            const pub = await s.importKey('spki', a[0], 'Ed448', true, ['verify']);
            const priv = await s.importKey('pkcs8', a[1], { name: 'ed448' }, true, ['sign']);
            const raw = await s.importKey('raw', a[3], 'Ed448', true, ['verify']);
            const fromJwk = await s.importKey('jwk', a[4], 'Ed448', true, ['sign']);
            return [await s.verify('Ed448', raw, a[2], enc('from python')),
                    await s.verify('Ed448', pub, a[2], enc('from pythoN')),
                    await s.sign({ name: 'Ed448', context: new Uint8Array() }, priv, enc('js')),
                    await s.sign('Ed448', fromJwk, enc('jwk')),
                    [await s.exportKey('jwk', priv), await s.exportKey('raw', pub), await s.exportKey('pkcs8', priv),
                     priv.algorithm, pub.usages]];
        """, der_public(key), der_private(key), signature, raw_public(key), jwk)
    assert verified is True and forged is False
    key.public_key().verify(js_signature, b"js")
    key.public_key().verify(from_jwk, b"jwk")
    assert len(js_signature) == 114
    assert exported == [{**jwk, "key_ops": ["sign"], "ext": True}, raw_public(key), der_private(key),
                        {"name": "Ed448"}, ["verify"]]


def test_ed448_js_keys_in_python(iso):
    spki, pkcs8, signature = js(iso, """
        const pair = await s.generateKey('Ed448', true, ['sign', 'verify']);
        return [await s.exportKey('spki', pair.publicKey), await s.exportKey('pkcs8', pair.privateKey),
                await s.sign('Ed448', pair.privateKey, enc('made in js'))];
    """)
    public = serialization.load_der_public_key(spki)
    assert isinstance(public, ed448.Ed448PublicKey)
    public.verify(signature, b"made in js")
    private = serialization.load_der_private_key(pkcs8, None)
    assert raw_public(private) == public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def test_x448_interop_both_ways(iso):
    mine = x448.X448PrivateKey.generate()
    theirs = x448.X448PrivateKey.generate()
    from_python, js_spki, js_pkcs8, js_secret, bits = js(iso, """
        const priv = await s.importKey('pkcs8', a[0], 'X448', false, ['deriveBits']);
        const pub = await s.importKey('raw', a[1], 'X448', true, []);
        const fromPython = await s.deriveBits({ name: 'X448', public: pub }, priv, 448);
        const pair = await s.generateKey('X448', true, ['deriveBits', 'deriveKey']);
        const peer = await s.importKey('spki', a[2], 'X448', true, []);
        const key = await s.deriveKey({ name: 'X448', public: peer }, pair.privateKey, { name: 'AES-GCM', length: 256 },
                                      true, ['encrypt']);
        return [fromPython, await s.exportKey('spki', pair.publicKey), await s.exportKey('pkcs8', pair.privateKey),
                await s.exportKey('raw', key), new Uint8Array(await s.deriveBits({ name: 'X448', public: pub }, priv,
                                                                                   12)).length];
    """, der_private(mine), raw_public(theirs), der_public(theirs))
    assert from_python == mine.exchange(theirs.public_key())
    js_public = serialization.load_der_public_key(js_spki)
    assert isinstance(js_public, x448.X448PublicKey)
    assert js_secret == theirs.exchange(js_public)[:32]
    assert serialization.load_der_private_key(js_pkcs8, None).exchange(theirs.public_key())[:32] == js_secret
    assert bits == 2


@pytest.mark.parametrize("code, name", [
    ("await s.importKey('raw', new Uint8Array(32), 'Ed448', true, ['verify'])", "DataError"),
    ("await s.importKey('raw', new Uint8Array(57), 'X448', true, [])", "DataError"),
    ("await s.generateKey('Ed448', true, ['deriveBits'])", "SyntaxError"),
    ("await s.generateKey('X448', true, ['sign'])", "SyntaxError"),
    ("const p = await s.generateKey('Ed448', false, ['sign']);"
     " await s.sign({ name: 'Ed448', context: new Uint8Array(1) }, p.privateKey, new Uint8Array())",
     "NotSupportedError"),
    ("const p = await s.generateKey('Ed25519', false, ['sign']); await s.sign('Ed448', p.privateKey, new Uint8Array())",
     "InvalidAccessError"),
    ("const a = await s.generateKey('X448', false, ['deriveBits']); const b = await s.generateKey('X25519', false,"
     " ['deriveBits']); await s.deriveBits({ name: 'X448', public: b.publicKey }, a.privateKey, 8)",
     "InvalidAccessError"),
    ("const k = (await s.generateKey('Ed25519', true, ['sign'])).privateKey;"
     " await s.importKey('pkcs8', await s.exportKey('pkcs8', k), 'Ed448', true, ['sign'])", "DataError"),
    ("await s.importKey('jwk', { kty: 'OKP', crv: 'Ed448', x: 'AAAA' }, 'Ed448', true, ['verify'])", "DataError"),
])
def test_ed448_x448_errors(iso, code, name):
    assert error_of(iso, code) == name


# --- AES ----------------------------------------------------------------------------------


def test_aes_gcm_interop(iso):
    key, iv, aad = os.urandom(32), os.urandom(12), b"header"
    py_ciphertext = AESGCM(key).encrypt(iv, b"from python", aad)
    plain, js_ciphertext, short_tag = js(iso, """
        const k = await s.importKey('raw', a[0], 'AES-GCM', false, ['encrypt', 'decrypt']);
        const params = { name: 'AES-GCM', iv: a[1], additionalData: a[2] };
        const short = await s.encrypt({ ...params, tagLength: 96 }, k, enc('short tag'));
        return [await s.decrypt(params, k, a[3]), await s.encrypt(params, k, enc('from js')),
                new TextDecoder().decode(await s.decrypt({ ...params, tagLength: 96 }, k, short))];
    """, key, iv, aad, py_ciphertext)
    assert plain == b"from python"
    assert AESGCM(key).decrypt(iv, js_ciphertext, aad) == b"from js"
    assert short_tag == "short tag"


def test_aes_cbc_interop(iso):
    key, iv = os.urandom(24), os.urandom(16)
    padder = PKCS7(128).padder()
    padded = padder.update(b"seventeen bytes!!") + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    py_ciphertext = encryptor.update(padded) + encryptor.finalize()
    assert js(iso, """
        const k = await s.importKey('raw', a[0], 'AES-CBC', true, ['decrypt', 'encrypt']);
        return [await s.decrypt({ name: 'AES-CBC', iv: a[1] }, k, a[2]),
                await s.encrypt({ name: 'AES-CBC', iv: a[1] }, k, enc('seventeen bytes!!')),
                k.algorithm, await s.exportKey('jwk', k)];
    """, key, iv, py_ciphertext) == [
        b"seventeen bytes!!", py_ciphertext, {"name": "AES-CBC", "length": 192},
        {"kty": "oct", "k": b64url(key), "alg": "A192CBC", "key_ops": ["encrypt", "decrypt"], "ext": True},
    ]
    assert error_of(iso, """
        const k = await s.importKey('raw', a[0], 'AES-CBC', true, ['decrypt']);
        await s.decrypt({ name: 'AES-CBC', iv: a[1] }, k, a[2].slice(0, 31));
    """, key, iv, py_ciphertext) == "OperationError"


def ctr_keystream(key: bytes, counters: list[int]) -> bytes:
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return b"".join(encryptor.update(c.to_bytes(16, "big")) for c in counters)


def test_aes_ctr_counter_wraps_within_its_length(iso):
    key = os.urandom(16)
    counter = (0xABCD << 112) | 0xFE  # the low 8 bits count: FE, FF, then 00 without carrying
    data = os.urandom(40)
    base = counter & ~0xFF
    stream = ctr_keystream(key, [base | 0xFE, base | 0xFF, base | 0x00])
    expected = bytes(d ^ k for d, k in zip(data, stream, strict=False))
    assert js(iso, """
        const k = await s.importKey('raw', a[0], 'AES-CTR', false, ['encrypt', 'decrypt']);
        const c = await s.encrypt({ name: 'AES-CTR', counter: a[1], length: 8 }, k, a[2]);
        const full = await s.encrypt({ name: 'AES-CTR', counter: a[1], length: 128 }, k, a[2]);
        return [c, await s.decrypt({ name: 'AES-CTR', counter: a[1], length: 8 }, k, c), full];
    """, key, counter.to_bytes(16, "big"), data) == [
        expected, data,
        bytes(d ^ k for d, k in zip(data, ctr_keystream(key, [counter, counter + 1, counter + 2]), strict=False)),
    ]
    # Two blocks with a 1-bit counter is the limit; three would reuse a counter block.
    assert error_of(iso, """
        const k = await s.importKey('raw', new Uint8Array(16), 'AES-CTR', false, ['encrypt']);
        await s.encrypt({ name: 'AES-CTR', counter: new Uint8Array(16), length: 1 }, k, new Uint8Array(33));
    """) == "OperationError"
    assert error_of(iso, """
        const k = await s.importKey('raw', new Uint8Array(16), 'AES-CTR', false, ['encrypt']);
        await s.encrypt({ name: 'AES-CTR', counter: new Uint8Array(16), length: 1 }, k, new Uint8Array(32));
    """) == "none"


def test_aes_kw_rfc3394_vector(iso):
    kek = bytes.fromhex("000102030405060708090A0B0C0D0E0F")
    key_data = bytes.fromhex("00112233445566778899AABBCCDDEEFF")
    wrapped = bytes.fromhex("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")
    assert js(iso, """
        const kek = await s.importKey('raw', a[0], 'AES-KW', false, ['wrapKey', 'unwrapKey']);
        const key = await s.importKey('raw', a[1], 'AES-GCM', true, ['encrypt']);
        const unwrapped = await s.unwrapKey('raw', a[2], kek, 'AES-KW', 'AES-GCM', true, ['decrypt']);
        let tampered = 'none';
        try { await s.unwrapKey('raw', a[2].map((b, i) => i === 0 ? b ^ 1 : b), kek, 'AES-KW', 'AES-GCM', true,
                                ['decrypt']); } catch (e) { tampered = e.name; }
        return [await s.wrapKey('raw', key, kek, 'AES-KW'), await s.exportKey('raw', unwrapped), unwrapped.usages,
                tampered];
    """, kek, key_data, wrapped) == [wrapped, key_data, ["decrypt"], "OperationError"]


def test_wrap_jwk_with_aes_gcm_and_pkcs8_with_rsa_oaep(iso):
    assert js(iso, """
        const wrapping = await s.generateKey({ name: 'AES-GCM', length: 128 }, false, ['wrapKey', 'unwrapKey']);
        const ec = await s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
        const iv = new Uint8Array(12);
        const wrapped = await s.wrapKey('jwk', ec.privateKey, wrapping, { name: 'AES-GCM', iv });
        const back = await s.unwrapKey('jwk', wrapped, wrapping, { name: 'AES-GCM', iv },
                                       { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
        const sig = await s.sign({ name: 'ECDSA', hash: 'SHA-256' }, back, enc('m'));
        const hmac = await s.generateKey({ name: 'HMAC', hash: 'SHA-256' }, true, ['sign']);
        const oaep = await s.generateKey({ name: 'RSA-OAEP', modulusLength: 2048,
          publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, false, ['wrapKey', 'unwrapKey']);
        const w2 = await s.wrapKey('raw', hmac, oaep.publicKey, 'RSA-OAEP');
        const h2 = await s.unwrapKey('raw', w2, oaep.privateKey, 'RSA-OAEP', { name: 'HMAC', hash: 'SHA-256' },
                                     true, ['sign']);
        let notExtractable = 'none';
        try { await s.wrapKey('raw', wrapping, wrapping, { name: 'AES-GCM', iv }); }
        catch (e) { notExtractable = e.name; }
        return [back.type, back.extractable,
                await s.verify({ name: 'ECDSA', hash: 'SHA-256' }, ec.publicKey, sig, enc('m')),
                new Uint8Array(await s.exportKey('raw', h2)).join() === new Uint8Array(
                  await s.exportKey('raw', hmac)).join(), notExtractable];
    """) == ["private", False, True, True, "InvalidAccessError"]


# --- PBKDF2 (RFC 6070) and HKDF (RFC 5869) ------------------------------------------------


def test_pbkdf2_rfc6070(iso):
    assert js(iso, """
        const k = await s.importKey('raw', enc('password'), 'PBKDF2', false, ['deriveBits']);
        const bits = (iterations) => s.deriveBits({ name: 'PBKDF2', salt: enc('salt'), iterations, hash: 'SHA-1' },
                                                  k, 160);
        return [await bits(1), await bits(4096)];
    """) == [bytes.fromhex("0c60c80f961f0e71f3a9b524af6012062fe037a6"),
             bytes.fromhex("4b007901b765489abead49d926f721d065a429c1")]


def test_hkdf_rfc5869(iso):
    assert js(iso, """
        const ikm = new Uint8Array(22).fill(0x0b);
        const salt = Uint8Array.from({ length: 13 }, (_, i) => i);
        const info = Uint8Array.from({ length: 10 }, (_, i) => 0xf0 + i);
        const k = await s.importKey('raw', ikm, 'HKDF', false, ['deriveBits']);
        return [await s.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt, info }, k, 42 * 8),
                await s.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(), info: new Uint8Array() },
                                   k, 42 * 8)];
    """) == [
        bytes.fromhex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
        bytes.fromhex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
    ]


def test_derive_key(iso):
    assert js(iso, """
        const p = await s.importKey('raw', enc('pw'), { name: 'pbkdf2' }, false, ['deriveKey']);
        const aes = await s.deriveKey({ name: 'PBKDF2', salt: enc('s'), iterations: 10, hash: 'SHA-256' }, p,
                                      { name: 'AES-GCM', length: 256 }, false, ['encrypt']);
        const h = await s.importKey('raw', enc('ikm'), 'HKDF', false, ['deriveKey']);
        const mac = await s.deriveKey({ name: 'HKDF', salt: enc('s'), info: enc('i'), hash: 'SHA-512' }, h,
                                      { name: 'HMAC', hash: 'SHA-256' }, true, ['sign']);
        return [aes.algorithm, aes.usages, mac.algorithm, (await s.exportKey('raw', mac)).byteLength,
                p.extractable, p.algorithm];
    """) == [{"name": "AES-GCM", "length": 256}, ["encrypt"], {"name": "HMAC", "length": 512,
                                                                "hash": {"name": "SHA-256"}},
             64, False, {"name": "PBKDF2"}]


# --- errors, usages, normalization --------------------------------------------------------

RSA_GEN = ("{ name: 'RSASSA-PKCS1-v1_5', modulusLength: 1024, publicExponent: new Uint8Array([1, 0, 1]),"
           " hash: 'SHA-256' }")
AES = "await s.importKey('raw', new Uint8Array(16), 'AES-GCM', false, ['encrypt'])"
EC_PAIR = "await s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])"


@pytest.mark.parametrize("code, name", [
    ("await s.importKey('raw', new Uint8Array(4), 'AES-GCM', true, ['encrypt'])", "DataError"),
    ("await s.importKey('raw', new Uint8Array(16), 'AES-GCM', true, ['sign'])", "SyntaxError"),
    ("await s.importKey('raw', new Uint8Array(16), 'AES-GCM', true, [])", "SyntaxError"),
    ("await s.importKey('spki', new Uint8Array(16), 'AES-GCM', true, ['encrypt'])", "NotSupportedError"),
    ("await s.importKey('raw', new Uint8Array(16), 'AES-KW', true, ['encrypt'])", "SyntaxError"),
    ("await s.importKey('jwk', { kty: 'oct', k: 'AAAAAAAAAAAAAAAAAAAAAA', alg: 'A256GCM' }, 'AES-GCM', true,"
     " ['encrypt'])", "DataError"),
    ("await s.importKey('jwk', { kty: 'oct', k: 'AAAAAAAAAAAAAAAAAAAAAA', use: 'sig' }, 'AES-GCM', true,"
     " ['encrypt'])", "DataError"),
    ("await s.generateKey({ name: 'AES-CBC', length: 100 }, true, ['encrypt'])", "OperationError"),
    ("await s.generateKey({ name: 'AES-CBC' }, true, ['encrypt'])", "TypeError"),
    (f"await s.encrypt({{ name: 'AES-GCM', iv: new Uint8Array(12), tagLength: 100 }}, {AES}, new Uint8Array())",
     "OperationError"),
    (f"await s.encrypt({{ name: 'AES-GCM', iv: new Uint8Array(12), tagLength: 256 }}, {AES}, new Uint8Array())",
     "TypeError"),
    (f"await s.encrypt({{ name: 'AES-GCM' }}, {AES}, new Uint8Array())", "TypeError"),
    (f"await s.decrypt({{ name: 'AES-GCM', iv: new Uint8Array(12) }}, {AES}, new Uint8Array(20))",
     "InvalidAccessError"),
    (f"await s.encrypt({{ name: 'AES-CBC', iv: new Uint8Array(16) }}, {AES}, new Uint8Array())",
     "InvalidAccessError"),
    ("const k = await s.importKey('raw', new Uint8Array(16), 'AES-GCM', false, ['decrypt']);"
     " await s.decrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, k, new Uint8Array(15))", "OperationError"),
    ("const k = await s.importKey('raw', new Uint8Array(16), 'AES-GCM', false, ['decrypt']);"
     " await s.decrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, k, new Uint8Array(40))", "OperationError"),
    ("const k = await s.importKey('raw', new Uint8Array(16), 'AES-CTR', false, ['encrypt']);"
     " await s.encrypt({ name: 'AES-CTR', counter: new Uint8Array(15), length: 64 }, k, new Uint8Array(1))",
     "OperationError"),
    ("const k = await s.importKey('raw', new Uint8Array(16), 'AES-CTR', false, ['encrypt']);"
     " await s.encrypt({ name: 'AES-CTR', counter: new Uint8Array(16), length: 0 }, k, new Uint8Array(1))",
     "OperationError"),
    (f"await s.exportKey('raw', {AES})", "InvalidAccessError"),
    ("await s.generateKey({ name: 'ECDSA', namedCurve: 'P-192' }, true, ['sign'])", "NotSupportedError"),
    ("await s.generateKey({ name: 'ECDSA', namedCurve: 'p-256' }, true, ['sign'])", "NotSupportedError"),
    ("await s.generateKey({ name: 'ECDSA' }, true, ['sign'])", "TypeError"),
    ("await s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['encrypt'])", "SyntaxError"),
    ("await s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify'])", "SyntaxError"),
    ("await s.importKey('raw', new Uint8Array(65), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify'])",
     "DataError"),
    ("await s.importKey('raw', new Uint8Array(65), { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign'])",
     "SyntaxError"),
    (f"const p = {EC_PAIR}; await s.sign({{ name: 'ECDSA', hash: 'SHA-256' }}, p.publicKey, new Uint8Array())",
     "InvalidAccessError"),
    (f"const p = {EC_PAIR}; await s.sign({{ name: 'ECDSA' }}, p.privateKey, new Uint8Array())", "TypeError"),
    (f"const p = {EC_PAIR}; await s.sign({{ name: 'ECDSA', hash: 'MD5' }}, p.privateKey, new Uint8Array())",
     "NotSupportedError"),
    (f"const p = {EC_PAIR}; await s.sign({{ name: 'RSA-PSS', saltLength: 0 }}, p.privateKey, new Uint8Array())",
     "InvalidAccessError"),
    (f"const p = {EC_PAIR}; await s.exportKey('pkcs8', p.privateKey)", "InvalidAccessError"),
    (f"const p = {EC_PAIR}; await s.exportKey('pkcs8', p.publicKey)", "InvalidAccessError"),
    (f"const p = {EC_PAIR}; await s.exportKey('raw', p.privateKey)", "InvalidAccessError"),
    (f"const p = {EC_PAIR}; await s.exportKey('jwk', p.publicKey)", "none"),
    ("const p = await s.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);"
     " const q = await s.generateKey({ name: 'ECDH', namedCurve: 'P-384' }, true, ['deriveBits']);"
     " await s.deriveBits({ name: 'ECDH', public: q.publicKey }, p.privateKey, 128)", "InvalidAccessError"),
    ("const p = await s.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);"
     " await s.deriveBits({ name: 'ECDH', public: p.privateKey }, p.privateKey, 128)", "InvalidAccessError"),
    ("const p = await s.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);"
     " await s.deriveBits({ name: 'ECDH', public: p.publicKey }, p.privateKey, 264)", "OperationError"),
    ("const p = await s.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);"
     " await s.deriveBits({ name: 'ECDH', public: {} }, p.privateKey, 128)", "TypeError"),
    ("const p = await s.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);"
     " await s.deriveKey({ name: 'ECDH', public: p.publicKey }, p.privateKey, { name: 'AES-GCM', length: 128 },"
     " true, ['encrypt'])", "InvalidAccessError"),
    ("await s.importKey('spki', new Uint8Array(91), { name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits'])",
     "SyntaxError"),
    (f"await s.generateKey({{ ...{RSA_GEN}, modulusLength: 1004 }}, true, ['sign'])", "OperationError"),
    (f"await s.generateKey({{ ...{RSA_GEN}, publicExponent: new Uint8Array([5]) }}, true, ['sign'])",
     "OperationError"),
    (f"await s.generateKey({{ ...{RSA_GEN}, hash: undefined }}, true, ['sign'])", "TypeError"),
    (f"await s.generateKey({{ ...{RSA_GEN}, modulusLength: undefined }}, true, ['sign'])", "TypeError"),
    (f"await s.generateKey({RSA_GEN}, true, ['encrypt'])", "SyntaxError"),
    ("await s.importKey('raw', new Uint8Array(16), { name: 'RSA-PSS', hash: 'SHA-256' }, true, ['verify'])",
     "NotSupportedError"),
    ("await s.importKey('jwk', { kty: 'RSA', n: 'AQAB', e: 'AQAB', d: 'AQAB' }, { name: 'RSA-PSS',"
     " hash: 'SHA-256' }, true, ['sign'])", "DataError"),
    ("await s.importKey('jwk', { kty: 'RSA', n: '!!', e: 'AQAB' }, { name: 'RSA-PSS', hash: 'SHA-256' }, true,"
     " ['verify'])", "DataError"),
    ("await s.importKey('raw', new Uint8Array(8), 'PBKDF2', true, ['deriveBits'])", "SyntaxError"),
    ("await s.importKey('jwk', { kty: 'oct', k: 'AA' }, 'PBKDF2', false, ['deriveBits'])", "NotSupportedError"),
    ("await s.importKey('raw', new Uint8Array(8), 'HKDF', false, ['sign'])", "SyntaxError"),
    ("const k = await s.importKey('raw', new Uint8Array(8), 'HKDF', false, ['deriveBits']);"
     " await s.exportKey('raw', k)", "NotSupportedError"),
    ("const k = await s.importKey('raw', new Uint8Array(8), 'HKDF', false, ['deriveBits']);"
     " await s.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(), info: new Uint8Array() }, k)",
     "OperationError"),
    ("const k = await s.importKey('raw', new Uint8Array(8), 'HKDF', false, ['deriveBits']);"
     " await s.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(), info: new Uint8Array() }, k, 12)",
     "OperationError"),
    ("const k = await s.importKey('raw', new Uint8Array(8), 'HKDF', false, ['deriveBits']);"
     " await s.deriveBits({ name: 'HKDF', hash: 'SHA-1', salt: new Uint8Array(), info: new Uint8Array() }, k,"
     " 255 * 160 + 8)", "OperationError"),
    ("const k = await s.importKey('raw', new Uint8Array(8), 'HKDF', false, ['deriveBits']);"
     " await s.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array() }, k, 128)", "TypeError"),
    ("const k = await s.importKey('raw', new Uint8Array(8), 'HKDF', false, ['deriveBits']);"
     " await s.deriveKey({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(), info: new Uint8Array() }, k,"
     " { name: 'AES-GCM', length: 128 }, true, ['encrypt'])", "InvalidAccessError"),
    ("const k = await s.importKey('raw', new Uint8Array(8), 'PBKDF2', false, ['deriveBits']);"
     " await s.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: new Uint8Array(), iterations: 0 }, k, 128)",
     "OperationError"),
    ("const k = await s.importKey('raw', new Uint8Array(8), 'PBKDF2', false, ['deriveBits']);"
     " await s.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: new Uint8Array(), iterations: 100001 }, k, 128)",
     "NotSupportedError"),
    ("const k = await s.importKey('raw', new Uint8Array(8), 'PBKDF2', false, ['deriveKey']);"
     " await s.deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt: new Uint8Array(), iterations: 1 }, k,"
     " { name: 'AES-GCM', length: 100 }, true, ['encrypt'])", "OperationError"),
    ("const k = await s.importKey('raw', new Uint8Array(8), 'PBKDF2', false, ['deriveKey']);"
     " await s.deriveKey({ name: 'PBKDF2', hash: 'SHA-256', salt: new Uint8Array(), iterations: 1 }, k,"
     " { name: 'AES-GCM', length: 128 }, true, [])", "SyntaxError"),
    ("await s.importKey('raw', new Uint8Array(31), 'Ed25519', true, ['verify'])", "DataError"),
    ("await s.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: 'AAAA' }, 'Ed25519', true, ['verify'])",
     "DataError"),
    ("await s.importKey('jwk', { kty: 'OKP', crv: 'X25519', x: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },"
     " 'Ed25519', true, ['verify'])", "DataError"),
    ("await s.generateKey('Ed25519', true, ['deriveBits'])", "SyntaxError"),
    ("await s.generateKey('X25519', true, [])", "SyntaxError"),
    ("await s.encrypt('AES-KW', null, new Uint8Array())", "NotSupportedError"),
    ("await s.wrapKey('raw', null, null, 'SHA-256')", "NotSupportedError"),
    ("await s.sign('ECDH', null, new Uint8Array())", "NotSupportedError"),
    ("await s.deriveBits({ name: 'Nope' }, null, 8)", "NotSupportedError"),
    ("await s.unwrapKey('jwk', new Uint8Array(24), null, 'AES-KW', 'AES-GCM', true)", "TypeError"),
])
def test_errors(iso, code, name):
    assert error_of(iso, code) == name


def test_jwk_key_ops_and_ext_enforced(iso):
    key = ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")),
           "y": b64url(numbers.y.to_bytes(32, "big"))}
    check = "await s.importKey('jwk', a[0], { name: 'ECDSA', namedCurve: 'P-256' }, true, ['verify'])"
    assert error_of(iso, check, {**jwk, "key_ops": ["sign"]}) == "DataError"
    assert error_of(iso, check, {**jwk, "ext": False}) == "DataError"
    assert error_of(iso, check, {**jwk, "alg": "ES384"}) == "DataError"
    assert error_of(iso, check, {**jwk, "crv": "P-384"}) == "DataError"
    assert error_of(iso, check, {**jwk, "y": jwk["x"]}) == "DataError"  # not on the curve
    assert error_of(iso, check, {**jwk, "d": b64url((12345).to_bytes(32, "big"))}) == "SyntaxError"
    private = "await s.importKey('jwk', a[0], { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign'])"
    assert error_of(iso, private, {**jwk, "d": b64url((12345).to_bytes(32, "big"))}) == "DataError"
    assert error_of(iso, check, {**jwk, "key_ops": ["verify"], "alg": "ES256", "use": "sig"}) == "none"


def test_usages_are_enforced_across_algorithms(iso):
    assert js(iso, """
        const names = [];
        const attempt = async (f) => { try { await f(); names.push('none'); } catch (e) { names.push(e.name); } };
        const aes = await s.generateKey({ name: 'AES-GCM', length: 128 }, true, ['decrypt']);
        const iv = new Uint8Array(12);
        await attempt(() => s.encrypt({ name: 'AES-GCM', iv }, aes, new Uint8Array(1)));
        await attempt(() => s.wrapKey('raw', aes, aes, { name: 'AES-GCM', iv }));
        const kw = await s.generateKey({ name: 'AES-KW', length: 128 }, true, ['wrapKey']);
        await attempt(() => s.unwrapKey('raw', new Uint8Array(24), kw, 'AES-KW', 'AES-GCM', true, ['encrypt']));
        const ed = await s.generateKey('Ed25519', true, ['sign', 'verify']);
        await attempt(() => s.verify('Ed25519', ed.privateKey, new Uint8Array(64), new Uint8Array()));
        await attempt(() => s.sign({ name: 'ECDSA', hash: 'SHA-256' }, ed.privateKey, new Uint8Array()));
        return names;
    """) == ["InvalidAccessError"] * 5


def test_verify_rejects_wrong_sizes_without_throwing(iso):
    assert js(iso, """
        const ec = await s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
        const ed = await s.generateKey('Ed25519', false, ['sign', 'verify']);
        const rsa = await s.generateKey({ name: 'RSA-PSS', modulusLength: 1024,
          publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-1' }, false, ['sign', 'verify']);
        const out = [];
        for (const size of [0, 1, 63, 64, 65, 127, 128, 129, 1000]) {
          const sig = crypto.getRandomValues(new Uint8Array(size));
          out.push(await s.verify({ name: 'ECDSA', hash: 'SHA-256' }, ec.publicKey, sig, new Uint8Array()));
          out.push(await s.verify('Ed25519', ed.publicKey, sig, new Uint8Array()));
          out.push(await s.verify({ name: 'RSA-PSS', saltLength: 20 }, rsa.publicKey, sig, new Uint8Array()));
        }
        // r and s of all 0xff bytes are beyond the group order.
        out.push(await s.verify({ name: 'ECDSA', hash: 'SHA-256' }, ec.publicKey, new Uint8Array(64).fill(255),
                                new Uint8Array()));
        return out.every((v) => v === false);
    """) is True


def test_garbage_and_truncated_keys_are_data_errors(iso, rsa_key):
    """Fuzzes the DER and raw parsers: every prefix of real keys, random bytes, bit flips."""
    ec_key = ec.generate_private_key(ec.SECP384R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    assert js(iso, """
        const cases = [
          ['spki', a[0], { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, ['verify']],
          ['pkcs8', a[1], { name: 'RSA-PSS', hash: 'SHA-256' }, ['sign']],
          ['spki', a[2], { name: 'ECDSA', namedCurve: 'P-384' }, ['verify']],
          ['pkcs8', a[3], { name: 'ECDH', namedCurve: 'P-384' }, ['deriveBits']],
          ['raw', a[4], { name: 'ECDSA', namedCurve: 'P-384' }, ['verify']],
          ['spki', a[5], 'Ed25519', ['verify']],
          ['pkcs8', a[6], 'Ed25519', ['sign']],
        ];
        const names = new Set();
        let accepted = 0;
        const attempt = async (format, bytes, alg, usages) => {
          try { await s.importKey(format, bytes, alg, true, usages); accepted++; }
          catch (e) { names.add(e.name); }
        };
        for (const [format, der, alg, usages] of cases) {
          for (let n = 0; n < der.length; n += (der.length > 300 ? 7 : 1)) {
            await attempt(format, der.subarray(0, n), alg, usages);
          }
          await attempt(format, new Uint8Array([...der, 0]), alg, usages);
          for (let i = 0; i < 40; i++) {
            const flipped = new Uint8Array(der);
            flipped[(i * 7919) % der.length] ^= 1 << (i % 8);
            await attempt(format, flipped, alg, usages);
          }
          for (const size of [1, 2, 3, 16, 33, 65, 97, 255, 256, 1000]) {
            await attempt(format, crypto.getRandomValues(new Uint8Array(size)), alg, usages);
          }
        }
        // Mismatched key types and curves.
        await attempt('spki', a[2], { name: 'ECDSA', namedCurve: 'P-256' }, ['verify']);
        await attempt('spki', a[0], { name: 'ECDSA', namedCurve: 'P-384' }, ['verify']);
        await attempt('spki', a[5], { name: 'RSA-PSS', hash: 'SHA-1' }, ['verify']);
        await attempt('pkcs8', a[3], 'Ed25519', ['sign']);
        await attempt('spki', a[5], 'X25519', []);
        const all = await s.importKey('spki', a[0], { name: 'RSA-OAEP', hash: 'SHA-1' }, true, ['encrypt']);
        return [[...names], all.type];
    """, der_public(rsa_key), der_private(rsa_key), der_public(ec_key), der_private(ec_key),
        ec_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint),
        der_public(ed_key), der_private(ed_key)) == [["DataError"], "public"]


def test_garbage_jwk_members(iso):
    assert js(iso, """
        const names = new Set();
        const junk = ['', 'A', 'AA', '!!!!', 'A'.repeat(75), '_'.repeat(3000)];
        for (const v of junk) {
          for (const [jwk, alg, usages] of [
            [{ kty: 'RSA', n: v, e: 'AQAB' }, { name: 'RSA-OAEP', hash: 'SHA-1' }, ['encrypt']],
            [{ kty: 'RSA', n: v, e: v, d: v, p: v, q: v, dp: v, dq: v, qi: v }, { name: 'RSA-OAEP', hash: 'SHA-1' },
             ['decrypt']],
            [{ kty: 'EC', crv: 'P-256', x: v, y: v }, { name: 'ECDH', namedCurve: 'P-256' }, []],
            [{ kty: 'EC', crv: 'P-256', x: v, y: v, d: v }, { name: 'ECDH', namedCurve: 'P-256' }, ['deriveBits']],
            [{ kty: 'OKP', crv: 'X25519', x: v, d: v }, 'X25519', ['deriveBits']],
            [{ kty: 'oct', k: v }, 'AES-CTR', ['encrypt']],
          ]) {
            try { await s.importKey('jwk', jwk, alg, true, usages); names.add('none'); }
            catch (e) { names.add(e.name); }
          }
        }
        return [...names];
    """) == ["DataError"]


def test_algorithm_normalization_and_key_objects(iso):
    assert js(iso, """
        const k = await s.importKey('raw', new Uint8Array(32), { name: 'aes-gcm' }, true, ['decrypt', 'encrypt',
                                                                                         'encrypt']);
        const alg = k.algorithm;
        alg.length = 1;
        const rsa = await s.generateKey({ name: 'rsa-oaep', modulusLength: 1024,
          publicExponent: new Uint8Array([1, 0, 1]), hash: { name: 'sha-512' } }, true, ['encrypt', 'decrypt']);
        rsa.publicKey.algorithm.publicExponent[0] = 9;
        return [k.algorithm === alg, k.usages, rsa.publicKey.algorithm.hash, rsa.privateKey.usages,
                rsa.publicKey.algorithm.publicExponent, Object.prototype.toString.call(rsa.privateKey),
                (await s.exportKey('jwk', rsa.publicKey)).alg];
    """) == [True, ["encrypt", "decrypt"], {"name": "SHA-512"}, ["decrypt"], b"\x09\x00\x01",
             "[object CryptoKey]", "RSA-OAEP-512"]


# --- limits that bound native work before it starts --------------------------------------------


def message_of(iso, body, *args):
    """`name: message` of what `body` throws."""
    return js(iso, f"try {{ await (async () => {{ {body} }})(); return 'none'; }}"
                   f" catch (e) {{ return e.name + ': ' + e.message; }}", *args)


def test_pbkdf2_output_limit(iso):
    derive = ("const k = await s.importKey('raw', enc('pw'), 'PBKDF2', false, ['deriveBits']);"
              " return s.deriveBits({ name: 'PBKDF2', hash: 'SHA-256', salt: enc('salt'), iterations: 2 }, k, a[0]);")
    assert js(iso, derive, 4096 * 8) == hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 2, 4096)
    assert message_of(iso, derive, 4097 * 8) == (
        "OperationError: PBKDF2 output is limited to 32768 bits (4096 bytes); 32776 were requested")
    # Twelve thousand bytes of SHA-1 output at the maximum iteration count ran 45-52 s before.
    assert message_of(iso, derive.replace("iterations: 2", "iterations: 100000"), 12000 * 8).startswith(
        "OperationError: PBKDF2 output is limited")


@pytest.mark.parametrize("hash_name, iterations, length", [
    ("SHA-1", 1, 20), ("SHA-1", 2049, 45), ("SHA-256", 1025, 100), ("SHA-384", 3, 97), ("SHA-512", 1, 1),
    ("SHA-512", 2, 4096),
])
def test_pbkdf2_matches_hashlib_across_blocks_and_polls(iso, hash_name, iterations, length):
    password, salt = os.urandom(70), os.urandom(33)  # a password longer than SHA-1's block is hashed first
    assert js(iso, """
        const k = await s.importKey('raw', a[0], 'PBKDF2', false, ['deriveBits']);
        return s.deriveBits({ name: 'PBKDF2', hash: a[2], salt: a[1], iterations: a[3] }, k, a[4] * 8);
    """, password, salt, hash_name, iterations, length) == hashlib.pbkdf2_hmac(
        hash_name.replace("-", "").lower(), password, salt, iterations, length)


def test_hkdf_with_long_salt_and_info_matches_cryptography(iso):
    # OpenSSL's own HKDF refuses an info longer than 1024 bytes; WebCrypto has no such limit.
    key, salt, info = os.urandom(40), os.urandom(300), os.urandom(5000)
    expected = HKDF(hashes.SHA384(), 255 * 48, salt, info).derive(key)
    assert js(iso, """
        const k = await s.importKey('raw', a[0], 'HKDF', false, ['deriveBits']);
        return [await s.deriveBits({ name: 'HKDF', hash: 'SHA-384', salt: a[1], info: a[2] }, k, 255 * 48 * 8),
                await s.deriveBits({ name: 'HKDF', hash: 'SHA-384', salt: a[1], info: a[2] }, k, 255 * 48 * 8 + 8)
                  .catch((e) => e.name)];
    """, key, salt, info) == [expected, "OperationError"]


def test_hmac_with_a_key_longer_than_the_block_matches_python(iso):
    key, data = os.urandom(3000), os.urandom((1 << 20) * 3 + 5)  # data spans several native steps
    assert js(iso, """
        const k = await s.importKey('raw', a[0], { name: 'HMAC', hash: 'SHA-512' }, false, ['sign']);
        return [await s.sign('HMAC', k, a[1]), await s.digest('SHA-256', a[1])];
    """, key, data) == [hmac.new(key, data, "sha512").digest(), hashlib.sha256(data).digest()]


def test_rsa_import_limits_name_the_limit(iso):
    big = rsa.RSAPublicNumbers(65537, (1 << 8199) + 1).public_key()
    huge_exponent = rsa.RSAPublicNumbers((1 << 40) + 1, rsa.generate_private_key(65537, 2048).public_key()
                                         .public_numbers().n).public_key()
    imp = "await s.importKey('spki', a[0], { name: 'RSA-PSS', hash: 'SHA-256' }, true, ['verify'])"
    assert message_of(iso, imp, der_public(big)) == (
        "DataError: unsupported RSA modulus length 8200 (512 to 8192 bits)")
    assert message_of(iso, imp, der_public(huge_exponent)) == (
        "DataError: unsupported RSA public exponent (an odd number above 1, at most 33 bits)")
    assert message_of(iso, f"await s.generateKey({RSA_GEN.replace('1024', '8192')}, true, ['sign'])") == (
        "OperationError: The modulus length must be a multiple of 8 from 512 to 4096")


def test_one_shot_limits_name_the_limit():
    with pyruntime.Isolate(memory_limit_mb=512, timeout_ms=None, cpu_limit_ms=10000) as iso:
        too_big = "new Uint8Array(4 * 1024 * 1024 + 1)"
        assert message_of(iso, "const p = await s.generateKey('Ed25519', false, ['sign']);"
                               f" await s.sign('Ed25519', p.privateKey, {too_big})") == (
            "OperationError: Ed25519 messages are limited to 4194304 bytes (EdDSA hashes the whole message in one"
            " step that cannot be interrupted)")
        assert message_of(iso, "const p = await s.generateKey('Ed448', false, ['sign', 'verify']);"
                               f" await s.verify('Ed448', p.publicKey, new Uint8Array(114), {too_big})").startswith(
            "OperationError: Ed448 messages are limited to 4194304 bytes")
        assert message_of(iso, f"const p = await s.generateKey({RSA_GEN.replace('RSASSA-PKCS1-v1_5', 'RSA-OAEP')},"
                               " false, ['encrypt', 'decrypt']);"
                               f" await s.encrypt({{ name: 'RSA-OAEP', label: {too_big} }}, p.publicKey,"
                               " new Uint8Array(1))") == (
            "OperationError: RSA-OAEP labels are limited to 4194304 bytes")
        assert message_of(iso, """
            const kw = await s.generateKey({ name: 'AES-KW', length: 128 }, false, ['wrapKey']);
            const big = await s.importKey('raw', new Uint8Array(64 * 1024 + 8), { name: 'HMAC', hash: 'SHA-256' },
                                          true, ['sign']);
            await s.wrapKey('raw', big, kw, 'AES-KW');
        """) == "OperationError: AES-KW data is larger than 65536 bytes (the limit)"
        # Right at the limits, the operations work.
        assert js(iso, """
            const p = await s.generateKey('Ed25519', false, ['sign', 'verify']);
            const data = new Uint8Array(4 * 1024 * 1024);
            const kw = await s.generateKey({ name: 'AES-KW', length: 128 }, false, ['wrapKey']);
            const mac = await s.importKey('raw', new Uint8Array(64 * 1024), { name: 'HMAC', hash: 'SHA-256' }, true,
                                          ['sign']);
            return [await s.verify('Ed25519', p.publicKey, await s.sign('Ed25519', p.privateKey, data), data),
                    (await s.wrapKey('raw', mac, kw, 'AES-KW')).byteLength];
        """) == [True, 64 * 1024 + 8]
