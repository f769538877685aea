"""IPVS attribute parsing checked against bytes captured from a real kernel.

Captured in the lab (Debian bookworm, kernel 6.1.0-56-cloud-amd64, ipvsadm 1.31)
after building this table with ipvsadm::

    ipvsadm -A -t 192.0.2.100:80 -s wrr -p 300 -M 255.255.255.0
    ipvsadm -a -t 192.0.2.100:80 -r 192.0.2.11:8080 -m -w 5 -x 10 -y 2
    ipvsadm -A -f 7 -6 -s sh -b sh-port
    ipvsadm -a -f 7 -6 -r 192.0.2.12 -i --tun-type gue --tun-port 6080 --tun-csum -w 3

Each literal is the attribute part (after the generic netlink header) of one
reply of IPVS_CMD_GET_SERVICE / GET_DEST (dumps), GET_INFO and GET_CONFIG; the
last one is a whole NLMSG_ERROR datagram answering a NEW_SERVICE for a service
that exists (EEXIST, NETLINK_CAP_ACK set).
"""

from __future__ import annotations

from typing import Any

from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import (
    CMD_SCHEMA,
    INFO_SCHEMA,
    dest_from_attrs,
    render_service_rules,
    service_from_attrs,
    service_full_attrs,
    service_id_attrs,
)
from ansible_collections.lvs.cluster.plugins.module_utils._ipvs_model import Dest
from ansible_collections.lvs.cluster.plugins.module_utils._netlink import NLMSG_ERROR, parse_error, parse_messages

SVC_TCP = bytes.fromhex(
    "2c0101000600010002000000060002000600000014000300c00002640000000000000000000000000600040000500000"
    "08000600777272000c00070003000000ffffffff080008002c01000008000900ffffff005c000a000800010000000000"
    "080002000000000008000300000000000c00040000000000000000000c00050000000000000000000800060000000000"
    "08000700000000000800080000000000080009000000000008000a00000000007c000c000c0001000000000000000000"
    "0c00020000000000000000000c00030000000000000000000c00040000000000000000000c0005000000000000000000"
    "0c00060000000000000000000c00070000000000000000000c00080000000000000000000c0009000000000000000000"
    "0c000a000000000000000000"
)
SVC_FWMARK6 = bytes.fromhex(
    "10010100060001000a000000080005000700000007000600736800000c00070012000000ffffffff0800080000000000"
    "08000900800000005c000a000800010000000000080002000000000008000300000000000c0004000000000000000000"
    "0c0005000000000000000000080006000000000008000700000000000800080000000000080009000000000008000a00"
    "000000007c000c000c00010000000000000000000c00020000000000000000000c00030000000000000000000c000400"
    "00000000000000000c00050000000000000000000c00060000000000000000000c00070000000000000000000c000800"
    "00000000000000000c00090000000000000000000c000a000000000000000000"
)
DEST_MASQ = bytes.fromhex(
    "5001020014000100c000020b000000000000000000000000060002001f90000008000300000000000800040005000000"
    "05000d000000000006000e000000000006000f0000000000080005000a00000008000600020000000800070000000000"
    "0800080000000000080009000000000006000b00020000005c000a000800010000000000080002000000000008000300"
    "000000000c00040000000000000000000c00050000000000000000000800060000000000080007000000000008000800"
    "00000000080009000000000008000a00000000007c000c000c00010000000000000000000c0002000000000000000000"
    "0c00030000000000000000000c00040000000000000000000c00050000000000000000000c0006000000000000000000"
    "0c00070000000000000000000c00080000000000000000000c00090000000000000000000c000a000000000000000000"
)
DEST_GUE = bytes.fromhex(
    "5001020014000100c000020c000000000000000000000000060002000000000008000300020000000800040003000000"
    "05000d000100000006000e0017c0000006000f0001000000080005000000000008000600000000000800070000000000"
    "0800080000000000080009000000000006000b00020000005c000a000800010000000000080002000000000008000300"
    "000000000c00040000000000000000000c00050000000000000000000800060000000000080007000000000008000800"
    "00000000080009000000000008000a00000000007c000c000c00010000000000000000000c0002000000000000000000"
    "0c00030000000000000000000c00040000000000000000000c00050000000000000000000c0006000000000000000000"
    "0c00070000000000000000000c00080000000000000000000c00090000000000000000000c000a000000000000000000"
)
INFO = bytes.fromhex("08000100010201000800020000100000")
CONFIG = bytes.fromhex("08000400840300000800050078000000080006002c010000")
ERROR_EEXIST = bytes.fromhex("240000000200000192100000ae030000efffffff680000002200050092100000ae030000")

SAVE = [
    "-A -t 192.0.2.100:80 -s wrr -p 300 -M 255.255.255.0",
    "-a -t 192.0.2.100:80 -r 192.0.2.11:8080 -m -w 5",
    "-A -f 7 -6 -s sh -b sh-port",
    "-a -f 7 -6 -r 192.0.2.12:0 -i -w 3 --tun-type gue --tun-port 6080 --tun-csum",
]


def test_service_ipv4_tcp_persistent() -> None:
    attrs = CMD_SCHEMA.parse(SVC_TCP)["service"]
    assert len(attrs["addr"]) == 16  # the kernel always sends union nf_inet_addr
    svc = service_from_attrs(attrs)
    assert svc.key == (2, "tcp", "192.0.2.100", 80, 0)
    assert (svc.scheduler, svc.flags, svc.timeout, svc.netmask, svc.pe_name) == ("wrr", 1, 300, 0xFFFFFF00, "")
    assert svc.stats is not None and svc.stats["conns"] == 0 and "outbps" in svc.stats
    # what we send to identify/create it carries the same values
    ours = CMD_SCHEMA.parse(CMD_SCHEMA.pack({"service": service_full_attrs(svc)}))["service"]
    for key in ("af", "protocol", "addr", "port", "sched_name", "timeout", "netmask"):
        assert ours[key] == attrs[key], key
    assert ours["flags"][0] == attrs["flags"][0] & ~0x2  # kernel adds IP_VS_SVC_F_HASHED


def test_service_fwmark_ipv6_sched_flag() -> None:
    attrs = CMD_SCHEMA.parse(SVC_FWMARK6)["service"]
    svc = service_from_attrs(attrs)
    assert svc.key == (10, "fwmark", "", 0, 7)
    assert svc.sched_flags == ["sh-port"] and svc.netmask == 128
    assert service_id_attrs(svc) == {"af": 10, "fwmark": 7}


def test_dests_and_rendering() -> None:
    svc = service_from_attrs(CMD_SCHEMA.parse(SVC_TCP)["service"])
    masq = dest_from_attrs(CMD_SCHEMA.parse(DEST_MASQ)["dest"], svc.af)
    assert (masq.address, masq.port, masq.forward, masq.weight) == ("192.0.2.11", 8080, "masq", 5)
    assert (masq.u_threshold, masq.l_threshold, masq.af) == (10, 2, 2)
    assert (masq.active_conns, masq.inactive_conns, masq.persistent_conns) == (0, 0, 0)
    svc.dests = {masq.key: masq}
    fw = service_from_attrs(CMD_SCHEMA.parse(SVC_FWMARK6)["service"])
    gue = dest_from_attrs(CMD_SCHEMA.parse(DEST_GUE)["dest"], fw.af)
    assert gue.af == 2 and gue.address == "192.0.2.12"  # IPv4 real server behind an IPv6 service
    assert (gue.forward, gue.tun_type, gue.tun_port, gue.tun_csum, gue.weight) == ("tunnel", "gue", 6080, "csum", 3)
    fw.dests = {gue.key: gue}
    assert render_service_rules(svc) + render_service_rules(fw) == SAVE


def test_info_config_and_error() -> None:
    assert INFO_SCHEMA.parse(INFO) == {"version": 0x010201, "conn_tab_size": 4096}
    assert CMD_SCHEMA.parse(CONFIG) == {"timeout_tcp": 900, "timeout_tcp_fin": 120, "timeout_udp": 300}
    (msg,) = list(parse_messages(ERROR_EEXIST))
    assert msg.type == NLMSG_ERROR
    assert parse_error(msg) == (17, "")


def test_compiled_packers_match_schema_pack() -> None:
    from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import (
        dest_attrs,
        pack_dest,
        pack_service_id,
        table_from_spec,
    )

    table = table_from_spec(
        [
            {
                "protocol": "tcp",
                "address": "2001:db8::1",
                "port": 443,
                "real_servers": [
                    {
                        "address": "192.0.2.1",
                        "forward": "tunnel",
                        "tun_type": "gue",
                        "tun_port": 6080,
                        "tun_csum": "csum",
                    },
                    {"address": "2001:db8::2", "port": 8443, "forward": "masq", "weight": 65535, "u_threshold": 9},
                ],
            },
            {"fwmark": 4294967295, "real_servers": [{"address": "10.0.0.1"}]},
        ]
    )
    for svc in table.values():
        assert pack_service_id(svc) == CMD_SCHEMA.pack({"service": service_id_attrs(svc)})
        for dest in (svc.dests or {}).values():
            for full in (True, False):
                assert pack_dest(dest, full) == CMD_SCHEMA.pack({"dest": dest_attrs(dest, full)})


def test_fast_dest_path_matches_generic_parser() -> None:
    from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import fast_dest

    for raw, af in ((DEST_MASQ, 2), (DEST_GUE, 10)):
        fast = fast_dest(raw, af)
        assert fast is not None
        assert fast == dest_from_attrs(CMD_SCHEMA.parse(raw)["dest"], af).__class__(
            **{**dest_from_attrs(CMD_SCHEMA.parse(raw)["dest"], af).__dict__, "stats": None}
        )
    # a layout it does not know (attributes reordered) is left to the generic parser
    assert fast_dest(CMD_SCHEMA.pack({"dest": {"port": 80, "addr": b"\0" * 16}}), 2) is None


class _FakeGenl:
    """Answers every GET_DEST dump with the same two captured replies."""

    def __init__(self, replies: list) -> None:
        self.replies = replies
        self.dumps = 0

    def dump(self, cmd: int, attrs: bytes, version: int = 1) -> list:
        self.dumps += 1
        return [(cmd, r) for r in self.replies]


def _client(replies: list) -> Any:
    from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import IpvsClient

    client = IpvsClient.__new__(IpvsClient)
    client.sock = _FakeGenl(replies)
    client._seen_dests = {}
    return client


def test_config_only_read_shares_decoded_dests_and_drops_counters() -> None:
    # the captured masq reply with 7 active connections written into its counter
    busy = bytearray(DEST_MASQ)
    assert busy[88:92] == bytes.fromhex("08000700")  # IPVS_DEST_ATTR_ACTIVE_CONNS header
    busy[92:96] = (7).to_bytes(4, "little")
    svc = service_from_attrs(CMD_SCHEMA.parse(SVC_TCP)["service"])
    full = _client([bytes(busy), DEST_GUE]).dests(svc)
    assert full[("192.0.2.11", 8080)].active_conns == 7
    client = _client([bytes(busy), DEST_GUE])
    first = client.dests(svc, config_only=True)
    second = client.dests(svc, config_only=True)
    assert [d.config() for d in first.values()] == [d.config() for d in full.values()]
    assert first[("192.0.2.11", 8080)].active_conns == 0
    assert first[("192.0.2.11", 8080)] is second[("192.0.2.11", 8080)]
    # a different weight is a different state: decoded again, not taken from the cache
    heavier = bytearray(busy)
    assert heavier[40:44] == bytes.fromhex("08000400")  # IPVS_DEST_ATTR_WEIGHT header
    heavier[44:48] = (9).to_bytes(4, "little")
    client.sock.replies = [bytes(heavier)]
    assert client.dests(svc, config_only=True)[("192.0.2.11", 8080)].weight == 9


# enum IPVS_DEST_ATTR_* of include/uapi/linux/ip_vs.h, in order from 1
UAPI_DEST_ATTRS = [
    "ADDR",
    "PORT",
    "FWD_METHOD",
    "WEIGHT",
    "U_THRESH",
    "L_THRESH",
    "ACTIVE_CONNS",
    "INACT_CONNS",
    "PERSIST_CONNS",
    "STATS",
    "ADDR_FAMILY",
    "STATS64",
    "TUN_TYPE",
    "TUN_PORT",
    "TUN_FLAGS",
]


def test_dest_attributes_are_declared_once_as_the_uapi_header_numbers_them() -> None:
    from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import DEST_FIELDS, DEST_SCHEMA

    assert [f.attr.id for f in DEST_FIELDS] == list(range(1, len(UAPI_DEST_ATTRS) + 1))
    assert [f.attr.name.upper() for f in DEST_FIELDS] == UAPI_DEST_ATTRS
    assert list(DEST_SCHEMA.attrs) == [f.attr for f in DEST_FIELDS]
    # every Dest field a real server has is carried by exactly one attribute
    from dataclasses import fields

    carried = [f.field for f in DEST_FIELDS if f.field]
    assert sorted(carried) == sorted(f.name for f in fields(Dest) if f.name != "stats")


def test_state_key_is_where_the_hand_computed_offsets_were() -> None:
    """The key and config attributes of the kernel's reply layout: addr .. l_thresh, and addr_family."""
    from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import _DestReader

    reader = _DestReader()
    assert reader.decode(DEST_MASQ, 2) is not None
    slicer = reader.slicer()
    assert slicer is not None
    assert b"".join(slicer(DEST_MASQ)) == DEST_MASQ[4 : 4 + 20 + 8 * 8] + DEST_MASQ[4 + 20 + 8 * 11 : 4 + 20 + 8 * 12]


def test_another_complete_layout_is_learnt_and_decoded_alike() -> None:
    """Fixed-size attributes in enum order, then the statistics (not the kernel's order): a layout of its
    own, the same real server."""
    from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import DEST_SCHEMA, _DestReader

    for raw, af in ((DEST_MASQ, 2), (DEST_GUE, 10)):
        generic = CMD_SCHEMA.parse(raw)["dest"]
        names = [a.name for a in DEST_SCHEMA.attrs if not a.name.startswith("stats")] + ["stats", "stats64"]
        ordered = {name: generic[name] for name in names}
        reordered = CMD_SCHEMA.pack({"dest": ordered})
        assert reordered != raw
        reader = _DestReader()
        assert reader.decode(raw, af) == reader.decode(reordered, af) == _without_stats(dest_from_attrs(generic, af))
        assert len(reader.layouts) == 2
        # a pre-5.3 reply (no tunnel attributes) is left to the generic parser
        old = CMD_SCHEMA.pack({"dest": {k: v for k, v in ordered.items() if not k.startswith("tun_")}})
        assert reader.decode(old, af) is None


def _without_stats(dest: Dest) -> Dest:
    dest.stats = None
    return dest
