"""node_setup.nm.live_device: a libnm device read into what the console shows and keeps
(applied gateway, DNS, routes; the active profile's own settings). libnm objects are faked with
the few getters it calls; tests/integration/test_network_nm.py reads a real NetworkManager."""

from __future__ import annotations

from typing import Any

from node_setup import Dns, IPv4, IPv6, Route
from node_setup.nm import live_device


class Obj:
    """An object whose get_<name>() returns the given value."""

    def __init__(self, **values: Any) -> None:
        self.values = values

    def __getattr__(self, name: str) -> Any:
        if name.startswith("get_") and name[4:] in self.values:
            return lambda *args: self.values[name[4:]](*args) if callable(self.values[name[4:]]) \
                else self.values[name[4:]]
        raise AttributeError(name)


def addr(a: str, prefix: int) -> Obj:
    return Obj(address=a, prefix=prefix)


def route(dest: str, prefix: int, hop: str | None, metric: int) -> Obj:
    return Obj(dest=dest, prefix=prefix, next_hop=hop, metric=metric)


def setting(method: str, addresses: list[Obj], gateway: str | None, routes: list[Obj], dns: list[str],
            search: list[str]) -> Obj:
    return Obj(method=method, num_addresses=len(addresses), address=lambda i: addresses[i], gateway=gateway,
               num_routes=len(routes), route=lambda i: routes[i], num_dns=len(dns), dns=lambda i: dns[i],
               num_dns_searches=len(search), dns_search=lambda i: search[i])


def device(connection: Obj | None) -> Obj:
    ip4 = Obj(addresses=[addr("192.0.2.11", 24)], gateway="192.0.2.1", nameservers=["192.0.2.53"],
              searches=["lab.example"],
              routes=[route("0.0.0.0", 0, "192.0.2.1", 100), route("192.0.2.0", 24, None, 100),
                      route("10.0.0.0", 8, "192.0.2.254", 100)])
    ip6 = Obj(addresses=[addr("fe80::1", 64)], gateway=None, nameservers=[], searches=[],
              routes=[route("fe80::", 64, None, 256), route("ff00::", 8, None, 256)])
    ac = Obj(id="eno1", connection=connection) if connection is not None else None
    return Obj(iface="eno1", type_description="ethernet", hw_address="3C:EC:EF:10:20:01", state="activated",
               mtu=1500, ip4_config=ip4, ip6_config=ip6, active_connection=ac)


def test_live_device_reads_applied_gateway_dns_routes_and_the_profile() -> None:
    s4 = setting("manual", [addr("192.0.2.11", 24)], "192.0.2.1", [route("10.0.0.0", 8, "192.0.2.254", -1)],
                 ["192.0.2.53"], ["lab.example"])
    s6 = setting("ignore", [], None, [], [], [])
    live = live_device(device(Obj(setting_ip4_config=s4, setting_ip6_config=s6)), NM=None)
    assert live.ipv4 == ("192.0.2.11/24",) and live.ipv4_gateway == "192.0.2.1"
    assert live.dns == ("192.0.2.53",) and live.dns_search == ("lab.example",)
    # the default route is the gateway; on-link, link-local and multicast routes are NetworkManager's own
    assert live.routes == (Route("10.0.0.0/8", "192.0.2.254", 100),)
    assert live.profile_ipv4 == IPv4("static", ("192.0.2.11/24",), "192.0.2.1", (Route("10.0.0.0/8", "192.0.2.254"),))
    assert live.profile_ipv6 == IPv6("disabled")
    assert live.profile_dns == Dns(("192.0.2.53",), ("lab.example",))
    assert live.to_dict()["routes"] == ["10.0.0.0/8 via 192.0.2.254 metric 100"]


def test_live_device_without_an_active_profile() -> None:
    live = live_device(device(None), NM=None)
    assert live.profile_ipv4 is None and live.profile_dns is None and live.connection == ""
