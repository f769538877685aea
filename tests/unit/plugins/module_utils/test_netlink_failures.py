"""Every netlink failure leaves the module_utils as the error their modules catch.

The ipvs_* modules catch ``IpvsError``; vip_iface catches ``VipError``, ``FouError``,
``NetlinkFailure`` and ``OSError``.  Fake sockets raise what the netlink core can raise.
"""

from __future__ import annotations

import errno
import re
import struct
from typing import Any, List, Optional, Tuple

import pytest

from ansible_collections.lvs.cluster.plugins.module_utils import _fou, _ipvs
from ansible_collections.lvs.cluster.plugins.module_utils._fou import FouClient, FouError
from ansible_collections.lvs.cluster.plugins.module_utils._ipvs import (
    AF_INET,
    CMD_FLUSH,
    CMD_GET_INFO,
    IpvsApplyError,
    IpvsClient,
    IpvsError,
    IpvsKernelError,
    IpvsNotAvailable,
    Service,
)
from ansible_collections.lvs.cluster.plugins.module_utils._netlink import (
    DumpInterrupted,
    FamilyNotFound,
    Message,
    NetlinkError,
    NetlinkFailure,
    NetlinkProtocolError,
)
from ansible_collections.lvs.cluster.plugins.module_utils._rtnl import RTM_NEWADDR, RTM_NEWLINK, Rtnl

FAILURES = [
    NetlinkError(errno.EPERM),
    NetlinkProtocolError("no answer from the kernel within 60 s (netlink receive timeout)"),
    DumpInterrupted(4),
    OSError(errno.ENOBUFS, "No buffer space available"),
]


class FailingGenl:
    """A generic netlink socket whose every request raises ``exc`` (or answers ``replies``)."""

    def __init__(self, exc: Optional[BaseException] = None, replies: Optional[List[bytes]] = None) -> None:
        self.exc = exc
        self.replies = replies or []

    def _answer(self) -> List[Tuple[int, bytes]]:
        if self.exc is not None:
            raise self.exc
        return [(1, data) for data in self.replies]

    def dump(self, cmd: int, attrs: bytes = b"", version: int = 1) -> List[Tuple[int, bytes]]:
        return self._answer()

    def request(self, cmd: int, attrs: bytes = b"", flags: int = 0, version: int = 1) -> List[Tuple[int, bytes]]:
        return self._answer()

    def close(self) -> None:
        pass


def ipvs_client(sock: FailingGenl) -> IpvsClient:
    client = IpvsClient.__new__(IpvsClient)
    client.sock = sock
    client._seen_dests = {}
    return client


# a reply whose only attribute claims 64 bytes of a 4-byte message
GARBLED = struct.pack("=HH", 64, 1)


# -- IPVS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("exc", FAILURES, ids=lambda e: type(e).__name__)
def test_ipvs_reads_raise_ipvs_kernel_error(exc: BaseException) -> None:
    client = ipvs_client(FailingGenl(exc))
    for read in (client.table, client.services, client.info, client.timeouts, client.daemons):
        with pytest.raises(IpvsKernelError, match=re.escape(str(exc))):
            read()
    with pytest.raises(IpvsKernelError, match="GET_DEST"):
        client.dests(Service(af=AF_INET, protocol="fwmark", fwmark=3))


@pytest.mark.parametrize("exc", FAILURES, ids=lambda e: type(e).__name__)
def test_ipvs_single_writes_raise_ipvs_apply_error(exc: BaseException) -> None:
    client = ipvs_client(FailingGenl(exc))
    with pytest.raises(IpvsApplyError, match="FLUSH failed"):
        client.flush()
    with pytest.raises(IpvsApplyError):
        client.set_timeouts(tcp=900)


def test_ipvs_request_names_read_and_write_commands() -> None:
    client = ipvs_client(FailingGenl(NetlinkError(errno.EINVAL)))
    with pytest.raises(IpvsKernelError, match="IPVS command GET_INFO failed: Invalid argument"):
        client._request(CMD_GET_INFO, {})
    with pytest.raises(IpvsApplyError, match="IPVS command FLUSH failed"):
        client._request(CMD_FLUSH, {})


def test_ipvs_unparsable_reply_raises_ipvs_kernel_error() -> None:
    client = ipvs_client(FailingGenl(replies=[GARBLED]))
    for read in (client.services, client.timeouts, client.daemons):
        with pytest.raises(IpvsKernelError, match="malformed attribute"):
            read()


class FailingFamily:
    """``GenlSocket`` of a kernel where opening the family raises ``errors`` in turn."""

    errors: List[BaseException] = []

    def __init__(self, name: str) -> None:
        raise FailingFamily.errors.pop(0)


@pytest.mark.parametrize("exc", FAILURES, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize(
    "owner, client, error, family",
    [(_ipvs, IpvsClient, IpvsNotAvailable, "IPVS"), (_fou, FouClient, FouError, "fou")],
    ids=["ipvs", "fou"],
)
def test_family_that_cannot_be_opened(
    monkeypatch: pytest.MonkeyPatch, exc: BaseException, owner: Any, client: Any, error: Any, family: str
) -> None:
    monkeypatch.setattr(owner, "GenlSocket", FailingFamily)
    FailingFamily.errors = [exc]
    with pytest.raises(error, match=f"cannot open the {family} generic netlink family"):
        client()


@pytest.mark.parametrize("exc", FAILURES, ids=lambda e: type(e).__name__)
def test_ipvs_family_that_cannot_be_opened_after_modprobe(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    monkeypatch.setattr(_ipvs, "GenlSocket", FailingFamily)
    # the second attempt, after modprobe, fails otherwise than with a missing family
    FailingFamily.errors = [FamilyNotFound("IPVS"), exc]
    with pytest.raises(IpvsNotAvailable, match="cannot open the IPVS generic netlink family"):
        IpvsClient(modprobe=lambda: "")


def test_ipvs_errors_share_the_base_the_modules_catch() -> None:
    assert issubclass(IpvsKernelError, IpvsError) and issubclass(IpvsNotAvailable, IpvsError)


# -- fou ------------------------------------------------------------------------------------------


def fou_client(sock: Any) -> FouClient:
    client = FouClient.__new__(FouClient)
    client.sock = sock
    return client


@pytest.mark.parametrize("exc", FAILURES, ids=lambda e: type(e).__name__)
def test_fou_failures_raise_fou_error(exc: BaseException) -> None:
    client = fou_client(FailingGenl(exc))
    with pytest.raises(FouError, match="cannot list fou ports"):
        client.ports()
    with pytest.raises(FouError, match="cannot add GUE receive port 6080"):
        client.add_gue(6080, 4)
    with pytest.raises(FouError, match="cannot remove fou port 6080"):
        client.delete(6080, 4)


def test_fou_unparsable_reply_raises_fou_error() -> None:
    with pytest.raises(FouError, match="malformed attribute"):
        fou_client(FailingGenl(replies=[GARBLED])).ports()


def test_fou_family_still_missing_when_adding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_fou, "GenlSocket", FailingFamily)
    FailingFamily.errors = [FamilyNotFound("fou")]
    client = FouClient()
    assert not client.available and client.ports() == []
    FailingFamily.errors = [FamilyNotFound("fou")]
    with pytest.raises(FouError, match="'fou' is not registered"):
        client.add_gue(6080, 4)


# -- rtnetlink ------------------------------------------------------------------------------------


class DumpingSocket:
    """A NETLINK_ROUTE socket answering every dump with ``replies``."""

    def __init__(self, replies: List[Message]) -> None:
        self.replies = replies

    def transact(self, msg_type: int, flags: int, payload: bytes) -> List[Message]:
        return self.replies

    def close(self) -> None:
        pass


def test_rtnl_short_replies_are_netlink_failures() -> None:
    rtnl = Rtnl(DumpingSocket([Message(RTM_NEWLINK, 0, 1, 0, b"\0" * 8)]))
    with pytest.raises(NetlinkProtocolError, match=r"malformed rtnetlink message \(type 16\)"):
        rtnl.links()
    # an IPv4 address with 2 of its 4 bytes
    short = struct.pack("=BBBBI", 2, 32, 0, 0, 1) + struct.pack("=HH", 6, 2) + b"\xc0\x00\0\0"
    rtnl = Rtnl(DumpingSocket([Message(RTM_NEWADDR, 0, 1, 0, short)]))
    with pytest.raises(NetlinkFailure, match="malformed rtnetlink message"):
        rtnl.addresses()
