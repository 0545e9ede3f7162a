"""The egress policy as a pure function of the resolver's answer, and the connection check
that applies it to what a name resolves to (no traffic leaves loopback)."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from pyruntime.engine.egress import EgressConfigError, EgressPolicy, EgressRefused, decide
from pyruntime.engine.fetch_client import FetchClient

DEFAULT = EgressPolicy.parse()

NOT_PUBLIC = [
    "127.0.0.1", "127.255.0.9", "10.0.0.1", "10.255.255.255", "172.16.0.1", "172.31.9.9", "192.168.1.1",
    "169.254.169.254", "100.64.0.1", "100.127.255.254", "0.0.0.0", "224.0.0.1", "239.255.255.250",
    "240.0.0.1", "255.255.255.255", "192.0.2.10", "198.18.0.1", "198.51.100.7", "203.0.113.9", "192.0.0.8",
    "::1", "::", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "fc00::1", "fd12:3456::1",
    "fe80::1", "fec0::1", "ff02::1", "64:ff9b::a00:1", "64:ff9b:1::1", "2001:db8::1", "2002:7f00:1::1",
    "2001::1", "100::1", "::127.0.0.1", "fe80::1%eth0",
]
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "192.169.0.1",
          "2606:4700:4700::1111", "2a00:1450:4001::200e", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_default_policy_refuses_every_non_public_range(address):
    with pytest.raises(EgressRefused, match=r"'api\.example\.com' is refused: it resolves to"):
        decide(DEFAULT, "api.example.com", [address])


@pytest.mark.parametrize("address", PUBLIC)
def test_default_policy_allows_public_addresses(address):
    assert decide(DEFAULT, "api.example.com", [address]) == [address.removeprefix("::ffff:")]


def test_only_the_allowed_answers_are_connected_to():
    # A name answering both a public and a private address connects to the public one only.
    assert decide(DEFAULT, "mixed.example", ["10.0.0.5", "93.184.216.34", "::1"]) == ["93.184.216.34"]
    with pytest.raises(EgressRefused, match="resolved to no address"):
        decide(DEFAULT, "empty.example", [])


def test_allow_by_name_wildcard_and_range():
    policy = EgressPolicy.parse(allow=["api.example.com", "*.internal.example", "10.1.2.0/24", "127.0.0.1"])
    assert decide(policy, "api.example.com", ["10.9.9.9"]) == ["10.9.9.9"]      # allowed by name
    assert decide(policy, "API.Example.COM.", ["10.9.9.9"]) == ["10.9.9.9"]
    assert decide(policy, "db.internal.example", ["192.168.0.3"]) == ["192.168.0.3"]
    assert decide(policy, "anything.test", ["10.1.2.77"]) == ["10.1.2.77"]       # allowed by range
    assert decide(policy, "anything.test", ["::ffff:127.0.0.1"]) == ["127.0.0.1"]
    for host, address in [("internal.example", "192.168.0.3"), ("anything.test", "10.1.3.1"),
                          ("anything.test", "127.0.0.2"), ("evil-api.example.com", "10.9.9.9")]:
        with pytest.raises(EgressRefused):
            decide(policy, host, [address])
    # "public" is not in this allow list: public addresses of other names are refused too.
    with pytest.raises(EgressRefused):
        decide(policy, "elsewhere.example", ["93.184.216.34"])
    assert decide(EgressPolicy.parse(allow=["public", "10.0.0.0/8"]), "x.example", ["93.184.216.34"])


def test_deny_wins_over_allow():
    policy = EgressPolicy.parse(allow=["public", "*.example.com"], deny=["bad.example.com", "93.184.216.0/24"])
    with pytest.raises(EgressRefused, match="denied by this app's egress policy"):
        decide(policy, "bad.example.com", ["8.8.8.8"])
    with pytest.raises(EgressRefused):
        decide(policy, "good.example.com", ["93.184.216.34"])
    assert decide(policy, "good.example.com", ["8.8.8.8"]) == ["8.8.8.8"]
    assert not EgressPolicy.parse(allow=[]).address_allowed("x", ipaddress.ip_address("8.8.8.8"))


@pytest.mark.parametrize("entries, problem", [
    (["http://x"], "is not a host name"), (["a b"], "is not a host name"), ([""], "expected host names"),
    ("public", "expected a list"), ([3], "expected host names"),
])
def test_bad_entries_are_refused(entries, problem):
    with pytest.raises(EgressConfigError, match=problem):
        EgressPolicy.parse(allow=entries)
    with pytest.raises(EgressConfigError, match="cannot be denied"):
        EgressPolicy.parse(deny=["public"])


def test_the_connection_goes_where_the_check_said():
    """A resolver answering a loopback address for a public-looking name: the connection is
    refused before any socket opens, though the name itself looks harmless."""

    async def rebinding(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async def attempt():
        pool = FetchClient(resolver=rebinding).new_pool(DEFAULT)
        try:
            await pool.request("GET", "http://www.example.com:9/")
        finally:
            await pool.aclose()

    with pytest.raises(EgressRefused, match="'www.example.com' is refused: it resolves to 127.0.0.1"):
        asyncio.run(attempt())
