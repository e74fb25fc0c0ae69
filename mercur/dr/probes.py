"""What clients see during a drill: which region the zone's own name servers answer the record with (Route53's
answer, before any resolver's cache), and whether a request to a region's load balancer succeeds."""

from __future__ import annotations

import socket
import ssl
from typing import Callable

from ..config import StackConfig
from .aws import ROUTE53_REGION, ClientFactory
from .outputs import StackOutputs

Resolve = Callable[[str], set[str]]  # a name's IPv4 addresses through the machine's resolver
Query = Callable[[str, str], set[str]]  # (name server address, name): its A answer, asked of that server alone
Get = Callable[[str, str, str], int]  # (address, host name, path): the HTTP status of a GET over TLS
TIMEOUT_SECONDS = 5.0


def resolve(name: str) -> set[str]:
    import dns.resolver
    return {r.address for r in dns.resolver.resolve(name, "A", lifetime=TIMEOUT_SECONDS)}


def query(server: str, name: str, port: int = 53) -> set[str]:
    """Ask one authoritative server, without recursion: its answer is the zone's, not a cache's."""
    import dns.message
    import dns.query
    import dns.rdatatype
    response = dns.query.udp(dns.message.make_query(name, "A"), server, timeout=TIMEOUT_SECONDS, port=port)
    return {r.address for rrset in response.answer if rrset.rdtype == dns.rdatatype.A for r in rrset}


def get(address: str, host: str, path: str, port: int = 443, context: ssl.SSLContext | None = None) -> int:
    """GET https://host/path from `address` (SNI and Host are the record's name; its certificate is verified)."""
    context = context or ssl.create_default_context()
    with socket.create_connection((address, port), timeout=TIMEOUT_SECONDS) as raw, \
            context.wrap_socket(raw, server_hostname=host) as tls:
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mercur-dr-drill\r\nConnection: close"
                    f"\r\n\r\n".encode())
        status_line = tls.recv(64).split(b"\r\n", 1)[0].decode("latin-1")
    return int(status_line.split()[1])


class Probes:
    def __init__(self, stack: StackConfig, outputs: StackOutputs, clients: ClientFactory,
                 resolve: Resolve = resolve, query: Query = query, get: Get = get) -> None:
        self.stack, self.outputs, self.clients = stack, outputs, clients
        self._resolve, self._query, self._get = resolve, query, get
        app = next(a for a in stack.apps if stack.dns and a.name == stack.dns.app)
        self.record, self.path = outputs.record_name, app.health_path
        self._app = app.name
        self._servers: list[str] = []

    def _name_servers(self) -> list[str]:
        if not self._servers:
            zone = self.clients("route53", ROUTE53_REGION).get_hosted_zone(Id=self.outputs.hosted_zone_id)
            for name in zone["DelegationSet"]["NameServers"]:
                self._servers.extend(sorted(self._resolve(name)))
        return self._servers

    def addresses(self, region: str) -> set[str]:
        """The region's load balancer addresses, resolved on each call: an ALB's addresses change as it scales,
        and the record's answer is compared with the ones it has now."""
        return self._resolve(self.outputs.regions[region].endpoints[self._app])

    def answering(self) -> str | None:
        """The region whose load balancer the zone's name servers answer the record with; None: none, mixed,
        or no server answered this time (a lost packet is "not yet", never the end of the drill)."""
        from dns.exception import DNSException
        answer: set[str] = set()
        try:
            for server in self._name_servers():
                try:
                    answer = self._query(server, self.record)
                    break
                except (DNSException, OSError):
                    continue
            addresses = {r: self.addresses(r) for r in self.outputs.failover_order if r in self.outputs.regions}
        except (DNSException, OSError):
            return None
        matches = [r for r, known in addresses.items() if answer & known]
        return matches[0] if len(matches) == 1 else None

    def serves(self, region: str) -> bool:
        """A request for the record's name, sent to `region`'s load balancer, succeeds (2xx or 3xx)."""
        from dns.exception import DNSException
        try:
            for address in sorted(self.addresses(region))[:1]:
                return 200 <= self._get(address, self.record, self.path) < 400
        except (DNSException, OSError, ValueError, IndexError):  # refused, reset, TLS, garbled: not yet
            return False
        return False
