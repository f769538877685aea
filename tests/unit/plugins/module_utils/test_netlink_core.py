"""The netlink core: attribute schemas, messages, error parsing."""

from __future__ import annotations

import struct

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils._netlink import (
    NLA_F_NESTED,
    NLM_F_ACK_TLVS,
    NLM_F_CAPPED,
    NLMSG_ERROR,
    NLMSG_OVERRUN,
    Attr,
    Message,
    NetlinkProtocolError,
    Schema,
    iter_attrs,
    pack_message,
    parse_error,
    parse_messages,
)

INNER = Schema("inner", [Attr(1, "a", "u32"), Attr(2, "b", "str")])
OUTER = Schema("outer", [Attr(1, "port", "be16"), Attr(2, "inner", INNER), Attr(3, "flag", "flag")])


def test_pack_parse_roundtrip_and_alignment() -> None:
    data = OUTER.pack({"port": 80, "inner": {"a": 7, "b": "xy"}, "flag": True})
    assert data[:8] == struct.pack("=HH", 6, 1) + b"\x00\x50" + b"\0\0"
    types = [t for t, _payload in iter_attrs(data)]
    assert types == [1, 2 | NLA_F_NESTED, 3]
    assert OUTER.parse(data) == {"port": 80, "inner": {"a": 7, "b": "xy"}, "flag": True}


def test_unknown_attributes_ignored_and_none_skipped() -> None:
    data = OUTER.pack({"port": 1, "inner": None}) + struct.pack("=HHI", 8, 99, 5)
    assert OUTER.parse(data) == {"port": 1}


def test_subset_skips_nested() -> None:
    small = OUTER.subset(["port"])
    assert small.parse(OUTER.pack({"port": 2, "inner": {"a": 1}})) == {"port": 2}


def test_unknown_name_rejected() -> None:
    with pytest.raises(KeyError):
        OUTER.pack({"nope": 1})


def test_malformed_attribute() -> None:
    with pytest.raises(NetlinkProtocolError):
        list(iter_attrs(struct.pack("=HH", 40, 1) + b"abcd"))


def test_messages_and_error_with_extack() -> None:
    text = b"bad thing\0"
    tlv = struct.pack("=HH", 4 + len(text), 1) + text + b"\0" * (-len(text) % 4)
    payload = struct.pack("=i", -22) + pack_message(16, 0, 5, 0, b"") + tlv
    raw = pack_message(NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS, 5, 0, payload) + pack_message(3, 0, 5, 0, b"\0" * 4)
    msgs = list(parse_messages(raw))
    assert [m.type for m in msgs] == [NLMSG_ERROR, 3]
    assert parse_error(msgs[0]) == (22, "bad thing")
    ack = Message(NLMSG_ERROR, 0, 1, 0, struct.pack("=i", 0) + b"\0" * 16)
    assert parse_error(ack) == (0, "")


def test_messages_for_one_port_id() -> None:
    """With a port id: other sockets' messages are skipped, the kernel's (0) kept, an overrun raises."""
    raw = pack_message(16, 0, 1, 77, b"aaaa") + pack_message(17, 0, 2, 0, b"bb\0\0") + pack_message(18, 0, 3, 99, b"")
    assert [(m.type, m.payload) for m in parse_messages(raw, 77)] == [(16, b"aaaa"), (17, b"bb\0\0")]
    assert len(parse_messages(raw)) == 3
    overrun = raw + pack_message(NLMSG_OVERRUN, 0, 4, 77, b"")
    with pytest.raises(NetlinkProtocolError, match="overrun"):
        parse_messages(overrun, 77)
    assert len(parse_messages(overrun, 5)) == 1  # not for this socket, only the kernel's message
