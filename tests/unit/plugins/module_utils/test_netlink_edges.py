"""The netlink core's edge cases, against fabricated kernel answers.

A ``NetlinkSocket`` is given one end of a local datagram socket pair; the test
plays the kernel on the other end, queueing the datagrams it would send.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
from typing import Any, Iterator, List, Tuple

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils._netlink import (
    NLM_F_ACK_TLVS,
    NLM_F_CAPPED,
    NLM_F_DUMP,
    NLM_F_DUMP_INTR,
    NLM_F_MULTI,
    NLMSG_DONE,
    NLMSG_ERROR,
    NLMSGERR_ATTR_MSG,
    DumpInterrupted,
    FamilyNotFound,
    GenlSocket,
    Message,
    NetlinkBatchError,
    NetlinkError,
    NetlinkFailure,
    NetlinkProtocolError,
    NetlinkSocket,
    pack_message,
    parse_done,
    parse_error,
)

PID = 4242
RTM_NEWLINK = 16
RTM_GETLINK = 18

Pair = Tuple[NetlinkSocket, socket.socket]


@pytest.fixture
def pair() -> Iterator[Pair]:
    """``(client, kernel)``: the client's socket and the end the test answers from."""
    ours, kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    client = NetlinkSocket.__new__(NetlinkSocket)
    client.sock, client.pid, client.seq = ours, PID, 0
    try:
        yield client, kernel
    finally:
        ours.close()
        kernel.close()


def extack(text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack("=HH", 4 + len(data), NLMSGERR_ATTR_MSG) + data + b"\0" * (-len(data) % 4)


def reply(seq: int, payload: bytes = b"\0" * 16, flags: int = NLM_F_MULTI) -> bytes:
    return pack_message(RTM_NEWLINK, flags, seq, PID, payload)


def done(seq: int, result: int = 0, flags: int = NLM_F_MULTI, tlvs: bytes = b"") -> bytes:
    return pack_message(NLMSG_DONE, flags, seq, PID, struct.pack("=i", result) + tlvs)


def ack(seq: int, err: int = 0) -> bytes:
    return pack_message(NLMSG_ERROR, 0, seq, PID, struct.pack("=i", -err) + pack_message(RTM_GETLINK, 0, seq, PID, b""))


def requests_sent(kernel: socket.socket) -> List[Tuple[int, int]]:
    """``(flags, seq)`` of every request the client sent so far."""
    out: List[Tuple[int, int]] = []
    while True:
        try:
            data = kernel.recv(65536, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return out
        _len, _type, flags, seq, _pid = struct.unpack_from("=IHHII", data)
        out.append((flags, seq))


def queued(sock: socket.socket) -> bool:
    return bool(select.select([sock], [], [], 0)[0])


# -- 1. the result of a dump in NLMSG_DONE -----------------------------------------------------


def test_parse_done() -> None:
    assert parse_done(Message(NLMSG_DONE, NLM_F_MULTI, 1, 0, struct.pack("=i", 0))) == (0, "")
    assert parse_done(Message(NLMSG_DONE, NLM_F_MULTI, 1, 0, b"")) == (0, "")  # no result at all
    assert parse_done(Message(NLMSG_DONE, NLM_F_MULTI, 1, 0, struct.pack("=i", -errno.EMSGSIZE))) == (
        errno.EMSGSIZE,
        "",
    )
    flags = NLM_F_MULTI | NLM_F_ACK_TLVS
    payload = struct.pack("=i", -errno.EINVAL) + extack("bad filter")
    assert parse_done(Message(NLMSG_DONE, flags, 1, 0, payload)) == (errno.EINVAL, "bad filter")


def test_dump_ending_with_an_error_raises_it(pair: Pair) -> None:
    client, kernel = pair
    kernel.send(reply(1) + reply(1))
    kernel.send(done(1, -errno.EINVAL, NLM_F_MULTI | NLM_F_ACK_TLVS, extack("Invalid header for link dump")))
    with pytest.raises(NetlinkError) as info:
        client.transact(RTM_GETLINK, NLM_F_DUMP, b"")
    assert info.value.errno == errno.EINVAL
    assert info.value.kernel_message == "Invalid header for link dump"
    assert "Invalid header for link dump" in str(info.value)


def test_dump_ending_well_returns_its_replies(pair: Pair) -> None:
    client, kernel = pair
    kernel.send(reply(1) + reply(1) + done(1))
    assert len(client.transact(RTM_GETLINK, NLM_F_DUMP, b"")) == 2


# -- 2. an NLMSG_ERROR too short for what it claims ---------------------------------------------


@pytest.mark.parametrize(
    ("flags", "payload", "problem"),
    [
        (0, b"", "truncated NLMSG_ERROR"),
        (0, b"\xea\xff", "truncated NLMSG_ERROR"),
        (NLM_F_ACK_TLVS, struct.pack("=i", -22), "truncated NLMSG_ERROR"),
        # the failed request claims 64 bytes, only its 16-byte header is there
        (NLM_F_ACK_TLVS, struct.pack("=iIHHII", -22, 64, 16, 0, 1, 0), "extended ack would start at byte 68"),
        (NLM_F_ACK_TLVS | NLM_F_CAPPED, struct.pack("=ii", -22, 64), "extended ack would start at byte 20"),
    ],
)
def test_short_error_is_a_protocol_error(flags: int, payload: bytes, problem: str) -> None:
    with pytest.raises(NetlinkProtocolError, match=problem):
        parse_error(Message(NLMSG_ERROR, flags, 1, 0, payload))


def test_error_with_the_ack_tlvs_right_at_its_end() -> None:
    payload = struct.pack("=i", -22) + pack_message(16, 0, 1, 0, b"")
    assert parse_error(Message(NLMSG_ERROR, NLM_F_ACK_TLVS | NLM_F_CAPPED, 1, 0, payload)) == (22, "")


def test_short_error_reaches_the_caller_as_protocol_error(pair: Pair) -> None:
    client, kernel = pair
    kernel.send(pack_message(NLMSG_ERROR, 0, 1, PID, b"\xff"))
    with pytest.raises(NetlinkProtocolError, match="truncated NLMSG_ERROR"):
        client.transact(RTM_GETLINK, 0, b"")


def test_short_generic_netlink_reply_is_a_protocol_error(pair: Pair) -> None:
    plain, kernel = pair
    client = GenlSocket.__new__(GenlSocket)
    client.sock, client.pid, client.seq, client.family_id = plain.sock, PID, 0, 30
    kernel.send(pack_message(30, 0, 1, PID, b"\x01"))  # a reply with 1 byte of its 4-byte genlmsghdr
    kernel.send(ack(1))
    with pytest.raises(NetlinkProtocolError, match="truncated generic netlink reply"):
        client.request(1)


# -- 3. one base class for every netlink failure ------------------------------------------------


def test_every_netlink_exception_is_a_netlink_failure() -> None:
    failures = [
        NetlinkError(errno.EINVAL),
        NetlinkBatchError([(0, NetlinkError(errno.EEXIST))]),
        NetlinkProtocolError("garbled"),
        FamilyNotFound("IPVS"),
        DumpInterrupted(4),
    ]
    assert all(isinstance(exc, NetlinkFailure) for exc in failures)
    assert isinstance(DumpInterrupted(4), NetlinkError)


# -- 4. a bounded wait for the kernel's answer ---------------------------------------------------


def test_no_answer_times_out(pair: Pair) -> None:
    client, _kernel = pair
    client.RECV_TIMEOUT = 0.05
    with pytest.raises(NetlinkProtocolError, match=r"no answer from the kernel within 0\.05 s"):
        client.transact(RTM_GETLINK, NLM_F_DUMP, b"")


class _Poller:
    """Stands for ``select.poll()``: runs ``on_poll`` (the kernel answering) and reports readable."""

    def __init__(self, on_poll: Any = None, ready: bool = True) -> None:
        self.on_poll = on_poll
        self.ready = ready
        self.timeouts: List[int] = []

    def poll(self, timeout: int) -> List[Tuple[int, int]]:
        self.timeouts.append(timeout)
        if self.on_poll is not None:
            self.on_poll()
        return [(0, select.POLLIN)] if self.ready else []


def test_answer_arriving_later_is_waited_for(pair: Pair) -> None:
    client, kernel = pair
    poller = _Poller(lambda: kernel.send(reply(1) + done(1)))
    client._poller = poller
    assert len(client.transact(RTM_GETLINK, NLM_F_DUMP, b"")) == 1
    assert len(poller.timeouts) == 1 and 0 < poller.timeouts[0] <= 60001


def test_queued_answer_needs_no_wait(pair: Pair) -> None:
    client, kernel = pair
    poller = _Poller()
    client._poller = poller
    kernel.send(reply(1) + done(1))
    client.transact(RTM_GETLINK, NLM_F_DUMP, b"")
    assert poller.timeouts == []


def test_wakeup_without_data_waits_on(pair: Pair) -> None:
    client, _kernel = pair
    client.RECV_TIMEOUT = 0.05
    client._poller = _Poller()  # always "readable", never any data
    with pytest.raises(NetlinkProtocolError, match="no answer"):
        client.transact(RTM_GETLINK, 0, b"")


def test_draining_errors_never_waits(pair: Pair) -> None:
    client, kernel = pair
    client._poller = _Poller(lambda: pytest.fail("the non-blocking drain waited"))
    failures: List[Tuple[int, NetlinkError]] = []
    client._drain_errors(1, failures)
    assert failures == []
    kernel.send(ack(2, errno.EEXIST))
    client._drain_errors(1, failures)
    assert [(i, e.errno) for i, e in failures] == [(1, errno.EEXIST)]


# -- 5. a hint for a missing CAP_NET_ADMIN ----------------------------------------------------


def test_eperm_names_root_and_cap_net_admin() -> None:
    text = str(NetlinkError(errno.EPERM))
    assert text.startswith("Operation not permitted (errno 1)")
    assert "root" in text and "CAP_NET_ADMIN" in text
    assert "kernel says" in str(NetlinkError(errno.EPERM, "kernel says"))
    assert "CAP_NET_ADMIN" not in str(NetlinkError(errno.EEXIST))


# -- 6. an interrupted dump is read to its end and started again -------------------------------


def test_interrupted_dump_is_retried(pair: Pair) -> None:
    client, kernel = pair
    intr = NLM_F_MULTI | NLM_F_DUMP_INTR
    kernel.send(reply(1) + reply(1, flags=intr))
    kernel.send(reply(1, flags=intr) + done(1, flags=intr))
    kernel.send(reply(2) + reply(2) + reply(2) + done(2))
    replies = client.transact(RTM_GETLINK, NLM_F_DUMP, b"")
    assert [m.seq for m in replies] == [2, 2, 2]
    assert [seq for _flags, seq in requests_sent(kernel)] == [1, 2]
    assert not queued(client.sock)  # the interrupted dump was read to its end


def test_interruption_flagged_on_done_only_is_retried(pair: Pair) -> None:
    client, kernel = pair
    kernel.send(reply(1) + done(1, flags=NLM_F_MULTI | NLM_F_DUMP_INTR))
    kernel.send(reply(2) + done(2))
    assert [m.seq for m in client.transact(RTM_GETLINK, NLM_F_DUMP, b"")] == [2]


def test_dump_that_keeps_being_interrupted_gives_up(pair: Pair) -> None:
    client, kernel = pair
    intr = NLM_F_MULTI | NLM_F_DUMP_INTR
    attempts = client.DUMP_RETRIES + 1
    for seq in range(1, attempts + 1):
        kernel.send(reply(seq, flags=intr) + done(seq, flags=intr))
    with pytest.raises(DumpInterrupted, match=f"{attempts} time.* kept changing") as info:
        client.transact(RTM_GETLINK, NLM_F_DUMP, b"")
    assert info.value.errno == errno.EINTR and info.value.attempts == attempts
    assert len(requests_sent(kernel)) == attempts
    assert not queued(client.sock)


def test_interrupted_reply_to_a_non_dump_is_not_sent_again(pair: Pair) -> None:
    client, kernel = pair
    kernel.send(reply(1, flags=NLM_F_DUMP_INTR) + ack(1))
    with pytest.raises(DumpInterrupted):
        client.transact(RTM_GETLINK, 0, b"")
    assert len(requests_sent(kernel)) == 1
