"""mercur.dr.probes: which region the zone's name servers answer with, asked of a real DNS server on loopback,
and a request counted as served only on 2xx/3xx."""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.rrset

from mercur.config import load_file
from mercur.dr import outputs, probes
from conftest import ROOT

ADDRESSES = {"lb-west": {"198.51.100.1", "198.51.100.2"}, "lb-east": {"203.0.113.7"}}


class _Zone:
    """One authoritative server on 127.0.0.1 answering the record with whatever `answer` holds now."""

    def __init__(self) -> None:
        self.answer = sorted(ADDRESSES["lb-west"])
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(5)
        self.port = self.socket.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for _ in range(4):  # bounded: the test asks at most this often
            try:
                data, client = self.socket.recvfrom(512)
            except OSError:
                return
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            response.answer.append(dns.rrset.from_text_list(query.question[0].name, 60, "IN", "A", self.answer))
            self.socket.sendto(response.to_wire(), client)


def _probes(plan_of, zone: _Zone, statuses: list[int]) -> probes.Probes:
    config = load_file(ROOT, "staging")
    data = plan_of("staging").outputs
    data = {**data, "regions": {r: {**d, "endpoints": {**d["endpoints"], config.dns.app: "lb-west" if r == "us-west-1"
                                                        else "lb-east"}} for r, d in data["regions"].items()}}
    parsed = outputs.parse(data, "outputs.json", config)

    class Route53:
        def get_hosted_zone(self, Id: str) -> dict:
            return {"DelegationSet": {"NameServers": ["ns-1.awsdns.example"]}}

    def get(address: str, host: str, path: str) -> int:
        assert host == parsed.record_name and path == config.apps[0].health_path
        return statuses.pop(0)
    return probes.Probes(config, parsed, lambda *_: Route53(),
                         resolve=lambda name: {"127.0.0.1"} if name.startswith("ns-") else ADDRESSES[name],
                         query=lambda server, name: probes.query(server, name, port=zone.port), get=get)


def test_the_answer_is_classified_by_the_regions_load_balancer_addresses(plan_of) -> None:
    zone = _Zone()
    found = _probes(plan_of, zone, [])
    assert found.answering() == "us-west-1"
    zone.answer = sorted(ADDRESSES["lb-east"])
    assert found.answering() == "us-east-1"
    zone.answer = ["192.0.2.9"]  # neither region's: not a switch
    assert found.answering() is None


def test_a_request_is_served_only_on_success(plan_of) -> None:
    found = _probes(plan_of, _Zone(), [503, 200])
    assert found.serves("us-east-1") is False and found.serves("us-east-1") is True
