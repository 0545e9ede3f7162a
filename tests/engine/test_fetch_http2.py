"""HTTP/2 and TLS: the client negotiates h2 with a TLS upstream on loopback (Hypercorn, a
certificate made for the test) and verifies the certificate against the name, though it
connects to the address it checked."""

from __future__ import annotations

import asyncio
import datetime
import ssl
import threading
from pathlib import Path

import pytest
from conftest import free_port
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypercorn.asyncio import serve
from hypercorn.config import Config

from pyruntime.engine.egress import EgressPolicy
from pyruntime.engine.fetch_client import FetchClient
from pyruntime.engine.host_ops import AsyncHostOps


def _certificate(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


async def _version_app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": scope["http_version"].encode()})


@pytest.fixture
def tls_upstream(tmp_path: Path):
    cert, key = _certificate(tmp_path)
    config = Config()
    port = free_port()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile, config.keyfile = str(cert), str(key)
    config.graceful_timeout = 1.0
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete,
                              args=(serve(_version_app, config, shutdown_trigger=stop.wait),), daemon=True)
    thread.start()
    yield port, cert
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)
    assert not thread.is_alive()


def test_https_upstream_speaks_http2_and_its_certificate_is_checked(tls_upstream):
    port, cert = tls_upstream
    trusting = ssl.create_default_context(cafile=str(cert))

    async def fetch(url: str, context: ssl.SSLContext) -> str:
        client = FetchClient(ssl_context=context)
        policy = EgressPolicy.parse(allow=["localhost", "127.0.0.1"])
        session = AsyncHostOps(policy, client=client).session(1 << 27)
        try:
            return await exchange(session, url)
        finally:
            await session.aclose()

    async def exchange(session, url: str) -> str:
        for _ in range(100):  # the server thread may still be starting
            try:
                head = await session("fetch", {"id": 1, "method": "GET", "url": url, "headers": [],
                                               "available": 1 << 27})
                break
            except Exception as exc:
                if "refused" not in str(exc).lower() and "connect" not in str(exc).lower():
                    return f"error: {exc}"
                await asyncio.sleep(0.05)
        else:
            raise AssertionError("the TLS upstream did not start")
        body = b""
        while (chunk := await session("fetch.read", 1)) is not None:
            body += chunk
        return f"{head['status']} {body.decode()}"

    assert asyncio.run(fetch(f"https://localhost:{port}/", trusting)) == "200 2"
    # The same server under a name its certificate does not carry: verification fails.
    assert "certificate" in asyncio.run(fetch(f"https://127.0.0.1:{port}/", trusting)).lower()
