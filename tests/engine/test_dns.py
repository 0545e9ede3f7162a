"""Outbound fetch's name lookups (engine/dns.py) against real DNS servers on loopback: names
resolve on the servers configured, lookups a server stalls hold nothing another lookup needs,
and an isolate's lookups running at once are bounded."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dns_server import LoopbackDns

from pyruntime.engine.dns import MAX_LOOKUPS, IsolateLookups, LookupFailed
from pyruntime.engine.egress import EgressPolicy, EgressRefused, decide, is_public


@pytest.fixture
def dns():
    server = LoopbackDns({"svc.test": "127.0.0.7"})
    yield server
    server.close()


@pytest.fixture
def stalled():
    server = LoopbackDns(held=True)
    yield server
    server.release()
    server.close()


def test_a_name_is_looked_up_on_the_configured_server(dns):
    assert asyncio.run(IsolateLookups([dns.address])("SVC.test.", 443)) == ["127.0.0.7"]
    assert "svc.test" in dns.names
    with pytest.raises(LookupFailed, match=r"cannot resolve 'nope\.test': .*"):
        asyncio.run(IsolateLookups([dns.address])("nope.test", 443))


@pytest.mark.parametrize("host, problem", [
    ("a" * 10_000_000 + ".com", r"'a{64}'\.\.\.: a host name has at most 253 characters"),
    (("a" * 63 + ".") * 3 + "a" * 62, "not a host name DNS can resolve"),  # 254 characters
    ("ex\x00ample.com", "not a host name DNS can resolve"),
    ("exa mple.com", "not a host name DNS can resolve"),
    ("", "not a host name DNS can resolve"),
    ("a..b", "not a host name DNS can resolve"),
])
def test_a_name_dns_cannot_resolve_is_refused_before_any_query(host, problem, stalled):
    lookups = IsolateLookups([stalled.address])
    with pytest.raises(LookupFailed, match=problem):
        asyncio.run(lookups(host, 80))
    assert stalled.names == []
    assert "127.0.0.1" in asyncio.run(lookups("localhost", 80))  # the isolate's lookups go on


@pytest.mark.parametrize("spelling", ["0x7f000001", "127.1", "2130706433", "0177.0.0.1", "[::ffff:127.0.0.1]",
                                      "localhost"])
def test_odd_spellings_resolve_to_what_they_mean(spelling, stalled):
    """Numeric spellings as `inet_aton` reads them (0177 is octal), and localhost from the hosts
    file, without asking DNS (the only server configured answers nothing)."""
    addresses = asyncio.run(IsolateLookups([stalled.address])(spelling, 80))
    assert addresses and not any(is_public(ipaddress.ip_address(a)) for a in addresses)
    assert any((ip.ipv4_mapped if ip.version == 6 else ip) == ipaddress.IPv4Address("127.0.0.1")
               for ip in map(ipaddress.ip_address, addresses))
    with pytest.raises(EgressRefused):
        decide(EgressPolicy.parse(), spelling, addresses)
    assert stalled.names == []


def test_lookups_a_server_stalls_hold_up_no_other_lookup(dns, stalled):
    """Far more stalled lookups than libuv's four resolver threads (which getaddrinfo used, and
    which one app's stalled names used to fill), from two isolates: another isolate's lookup,
    and a hosts-file one of the stalled isolates, answer while all of them wait."""

    async def run():
        stalling = [IsolateLookups([stalled.address]) for _ in range(2)]
        waiting = [asyncio.ensure_future(lookups(f"n{i}.stall.test", 80))
                   for i, lookups in enumerate(stalling * 12)]
        await asyncio.to_thread(stalled.wait_for, len(waiting))
        assert await IsolateLookups([dns.address])("svc.test", 80) == ["127.0.0.7"]
        assert "127.0.0.1" in await stalling[0]("localhost", 80)
        assert not any(task.done() for task in waiting)
        stalled.release()
        for task in waiting:
            with pytest.raises(LookupFailed, match="cannot resolve 'n"):
                await task
        assert [lookups.running for lookups in stalling] == [0, 0]

    asyncio.run(run())


def test_an_isolate_looks_up_at_most_max_lookups_names_even_after_its_requests_end(dns, stalled):
    """c-ares cannot cancel one query: a lookup whose request ended runs on and holds its slot,
    and the isolate's next lookup waits for one; another isolate's does not."""

    async def run():
        lookups = IsolateLookups([stalled.address])
        waiting = [asyncio.ensure_future(lookups(f"n{i}.stall.test", 80)) for i in range(MAX_LOOKUPS)]
        await asyncio.to_thread(stalled.wait_for, MAX_LOOKUPS)
        for task in waiting:  # their requests end
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        assert lookups.running == MAX_LOOKUPS
        stalled.answers["late.test"] = "127.0.0.8"
        late = asyncio.ensure_future(lookups("late.test", 80))
        assert await IsolateLookups([dns.address])("svc.test", 80) == ["127.0.0.7"]  # another isolate's
        assert "late.test" not in stalled.names and not late.done()
        stalled.release()
        assert await late == ["127.0.0.8"]
        assert lookups.running == 0

    asyncio.run(run())


def test_a_new_event_loop_starts_afresh_without_the_closed_ones_lookups(stalled):
    """A host that calls asyncio.run for each request: the lookup the last loop left running can
    never settle there, and must neither be awaited nor hold a slot in the next loop."""
    lookups = IsolateLookups([stalled.address])
    stalled.answers["api.test"] = "127.0.0.9"

    async def leave_running() -> None:
        for i in range(MAX_LOOKUPS):
            asyncio.ensure_future(lookups(f"n{i}.stall.test", 80))
        waiting = asyncio.ensure_future(lookups("api.test", 80))
        await asyncio.sleep(0)
        assert lookups.running == MAX_LOOKUPS and not waiting.done()  # api.test waits for a slot

    asyncio.run(leave_running())
    stalled.release()

    async def look_up_again() -> list[str]:
        return await asyncio.wait_for(lookups("api.test", 80), 60)

    assert asyncio.run(look_up_again()) == ["127.0.0.9"]


def test_fetches_of_one_name_at_once_share_its_lookup(stalled):
    """A fan-out of many fetches to one new host is one lookup, not one per fetch (nor a wait
    for slots)."""

    async def run():
        lookups = IsolateLookups([stalled.address])
        stalled.answers["api.test"] = "127.0.0.9"
        together = [asyncio.ensure_future(lookups("api.test", 443)) for _ in range(3 * MAX_LOOKUPS)]
        await asyncio.to_thread(stalled.wait_for, 1)
        assert lookups.running == 1
        stalled.release()
        assert await asyncio.gather(*together) == [["127.0.0.9"]] * (3 * MAX_LOOKUPS)

    asyncio.run(run())


SYSTEM_RESOLVER_PROBE = """
import asyncio, sys
from pyruntime.engine.dns import IsolateLookups

sys.path.insert(0, sys.argv[1])
from dns_server import LoopbackDns

stalled = LoopbackDns(held=True, port=53)

async def main():
    lookups = IsolateLookups()  # the system's resolvers: this namespace's /etc/resolv.conf
    waiting = [asyncio.ensure_future(lookups(f"n{i}.stall.test", 80)) for i in range(24)]
    await asyncio.to_thread(stalled.wait_for, 24)
    answered = await IsolateLookups()("localhost", 80)
    print("localhost", answered, "while", sum(not task.done() for task in waiting), "waited")

asyncio.run(main())
"""


def test_with_the_systems_own_resolver_stalled_lookups_hold_up_nothing(tmp_path: Path):
    """The default configuration end to end: in a mount namespace of its own, a child sees an
    /etc/resolv.conf naming a DNS server on 127.0.0.1:53 that never answers. 24 lookups wait on
    it, and a lookup of localhost answers (the system's getaddrinfo, in libuv's four threads,
    made it wait 39.5 s behind 8 such lookups: measured 2026-12-06 the same way)."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) for a mount namespace")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\n")
    script = tmp_path / "probe.py"
    script.write_text(SYSTEM_RESOLVER_PROBE)
    tests = Path(__file__).resolve().parent.parent
    command = f"mount --bind {resolv} /etc/resolv.conf && exec {sys.executable} {script} {tests}"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, timeout=120)
    if probe.returncode != 0 and ("unshare" in probe.stderr or "mount" in probe.stderr
                                  or "Address already in use" in probe.stderr):
        pytest.skip(f"no mount namespace or port 53 here: {probe.stderr.strip()[-200:]}")
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert "127.0.0.1" in probe.stdout and "while 24 waited" in probe.stdout, probe.stdout
