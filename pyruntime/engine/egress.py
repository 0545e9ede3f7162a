"""Egress policy: which addresses an app's outbound `fetch` may connect to.

A policy is checked against the *resolved* address of every connection (fetch_client.py
resolves the name itself, checks each address here, then connects to the address it
checked), so DNS answers and odd spellings of an address (`0x7f000001`, `127.1`,
`[::ffff:127.0.0.1]`) are judged by what they resolve to.

- `allow` entries: `"public"` (any public address: the default when `allow` is not given),
  host names (`"api.example.com"`), wildcards (`"*.example.com"`: subdomains only), IP
  addresses and CIDR ranges (`"10.1.2.0/24"`). An allowed name lets its resolved
  addresses through, whatever range they are in.
- `deny` entries: the same forms (not `"public"`); a deny always wins.
- `dns_servers`: where the app's names are looked up (`"10.0.0.2"`, `"127.0.0.1:5353"`,
  `"[::1]:53"`; dns.py); none: the system's resolvers.

`decide(policy, host, addresses)` is the pure function: given what a resolver answered,
it returns the addresses that may be connected to, or raises `EgressRefused` naming why.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import Error

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

PUBLIC = "public"

# Not public: special-purpose registries of IANA (RFC 6890 and successors), listed here
# rather than taken from `ipaddress.is_global`, whose answers changed between Python versions.
_NOT_PUBLIC = tuple(ipaddress.ip_network(net) for net in (
    "0.0.0.0/8",          # "this network", unspecified
    "10.0.0.0/8",         # private
    "100.64.0.0/10",      # carrier-grade NAT
    "127.0.0.0/8",        # loopback
    "169.254.0.0/16",     # link-local (cloud metadata services live here)
    "172.16.0.0/12",      # private
    "192.0.0.0/24",       # IETF protocol assignments
    "192.0.2.0/24",       # documentation
    "192.88.99.0/24",     # 6to4 relay anycast
    "192.168.0.0/16",     # private
    "198.18.0.0/15",      # benchmarking
    "198.51.100.0/24",    # documentation
    "203.0.113.0/24",     # documentation
    "224.0.0.0/4",        # multicast
    "240.0.0.0/4",        # reserved, broadcast
    "::/128",             # unspecified
    "::1/128",            # loopback
    "::/96",              # IPv4-compatible (deprecated)
    "::ffff:0:0/96",      # IPv4-mapped (judged by the IPv4 address instead, see _canonical)
    "64:ff9b::/96",       # NAT64
    "64:ff9b:1::/48",     # local-use NAT64
    "100::/64",           # discard-only
    "2001::/23",          # IETF protocol assignments (Teredo, ORCHID, ...)
    "2001:db8::/32",      # documentation
    "2002::/16",          # 6to4: embeds any IPv4 address
    "3fff::/20",          # documentation
    "5f00::/16",          # segment routing
    "fc00::/7",           # unique-local
    "fe80::/10",          # link-local
    "fec0::/10",          # site-local (deprecated)
    "ff00::/8",           # multicast
))


class EgressRefused(Error):
    """An outbound connection the app's egress policy does not allow; the message says why."""


class EgressConfigError(ValueError):
    """An `allow` or `deny` entry that is not a name, wildcard, address, range or `public`."""


def _canonical(address: IPAddress) -> IPAddress:
    """An IPv4-mapped IPv6 address is the IPv4 address it carries: the kernel connects there."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public(address: IPAddress) -> bool:
    address = _canonical(address)
    return not any(address.version == net.version and address in net for net in _NOT_PUBLIC)


def _name_matches(host: str, entry: str) -> bool:
    if entry.startswith("*."):
        return host.endswith(entry[1:])
    return host == entry


def normalize_host(host: str) -> str:
    return host.lower().rstrip(".").removeprefix("[").removesuffix("]")


@dataclass(frozen=True)
class EgressPolicy:
    """Parsed `allow` and `deny` lists (see the module docstring)."""

    allow_public: bool = True
    allow_names: tuple[str, ...] = ()
    allow_networks: tuple[IPNetwork, ...] = ()
    deny_names: tuple[str, ...] = ()
    deny_networks: tuple[IPNetwork, ...] = ()
    dns_servers: tuple[str, ...] = ()

    @classmethod
    def parse(cls, allow: Iterable[str] | None = None, deny: Iterable[str] = (),
              dns_servers: Iterable[str] = ()) -> EgressPolicy:
        """`allow=None` means `["public"]`; raises EgressConfigError naming a bad entry."""
        allow_names, allow_networks, allow_public = _entries(["public"] if allow is None else allow, "allow")
        deny_names, deny_networks, deny_public = _entries(deny, "deny")
        if deny_public:
            raise EgressConfigError("deny: 'public' cannot be denied as a whole; leave it out of allow instead")
        return cls(allow_public, allow_names, allow_networks, deny_names, deny_networks, _servers(dns_servers))

    def check_name(self, host: str) -> None:
        """Refuses a name the deny list names, before anything is resolved."""
        host = normalize_host(host)
        if any(_name_matches(host, entry) for entry in self.deny_names):
            raise EgressRefused(f"{host!r} is refused: the host is denied by this app's egress policy")

    def address_allowed(self, host: str, address: IPAddress) -> bool:
        host = normalize_host(host)
        address = _canonical(address)
        if any(address.version == net.version and address in net for net in self.deny_networks):
            return False
        if any(_name_matches(host, entry) for entry in self.deny_names):
            return False
        if any(_name_matches(host, entry) for entry in self.allow_names):
            return True
        if any(address.version == net.version and address in net for net in self.allow_networks):
            return True
        return self.allow_public and is_public(address)


def _entries(values: Iterable[str], key: str) -> tuple[tuple[str, ...], tuple[IPNetwork, ...], bool]:
    names: list[str] = []
    networks: list[IPNetwork] = []
    public = False
    if isinstance(values, str):
        raise EgressConfigError(f"{key}: expected a list of strings, got the string {values!r}")
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise EgressConfigError(f"{key}: expected host names, addresses or ranges, got {value!r}")
        entry = normalize_host(value.strip())
        if entry == PUBLIC:
            public = True
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        if not _is_name(entry):
            raise EgressConfigError(f"{key}: {value!r} is not a host name, '*.domain' wildcard, IP address, "
                                    "CIDR range or 'public'")
        names.append(entry)
    return tuple(names), tuple(networks), public


def _servers(values: Iterable[str]) -> tuple[str, ...]:
    """DNS servers as "address:port" ("[address]:port" for IPv6), port 53 unless given."""
    if isinstance(values, str):
        raise EgressConfigError(f"dns_servers: expected a list of strings, got the string {values!r}")
    servers = []
    for value in values:
        text = value.strip() if isinstance(value, str) else ""
        host, port = text, "53"
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = rest.removeprefix(":") if rest.startswith(":") else ("" if rest else "53")
        elif text.count(":") == 1:
            host, port = text.split(":")
        try:
            address = ipaddress.ip_address(host)
            number = int(port) if port.isdigit() else 0
        except ValueError:
            number = 0
        if not 0 < number < 65536:
            raise EgressConfigError(f"dns_servers: {value!r} is not a DNS server's address like \"10.0.0.2\", "
                                    "\"127.0.0.1:5353\" or \"[::1]:53\"")
        servers.append(f"[{address}]:{number}" if address.version == 6 else f"{address}:{number}")
    return tuple(servers)


def _is_name(entry: str) -> bool:
    labels = entry.removeprefix("*.").split(".")
    return all(label and len(label) <= 63 and label.replace("-", "").isalnum() and label.isascii()
               and not label.startswith("-") and not label.endswith("-") for label in labels)


def decide(policy: EgressPolicy, host: str, addresses: Sequence[str]) -> list[str]:
    """The resolved `addresses` of `host` that the policy lets a connection reach, in order.

    Raises EgressRefused, naming the host and the addresses, when none may be reached.
    """
    policy.check_name(host)
    if not addresses:
        raise EgressRefused(f"{normalize_host(host)!r} resolved to no address")
    allowed = []
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])  # drop an IPv6 zone index
        if policy.address_allowed(host, address):
            allowed.append(str(_canonical(address)))
    if not allowed:
        shown = ", ".join(dict.fromkeys(addresses))
        raise EgressRefused(f"{normalize_host(host)!r} is refused: it resolves to {shown}, which this "
                            "app's egress policy does not allow (only public addresses unless [apps.egress] "
                            "allow names the host or range)")
    return allowed
