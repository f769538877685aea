# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Minimal netlink client written with the Python standard library only.

This is the one place in the collection that speaks netlink.  It provides:

* a declarative attribute schema (``Attr``/``Schema``) with one pack function
  (``Schema.pack``) and one parser (``Schema.parse``) that ignores attributes
  it does not know;
* ``NetlinkSocket``: one receive loop (sequence and port id checks, multi-part
  dumps ending with NLMSG_DONE, NLMSG_ERROR 0 as ACK, negative errno raised as
  ``NetlinkError`` carrying the kernel's extended-ack text, a bounded wait for
  each answer, interrupted dumps read again) and a pipelined writer that sends
  many requests before reading their acks;
* ``GenlSocket``: generic netlink family resolution.

Nothing here knows about Ansible; errors are typed exceptions, all of them
``NetlinkFailure`` (besides the ``OSError`` of a failing socket call), so that
the module_utils on top convert every one into their own errors.
"""

from __future__ import annotations

import errno
import operator
import os
import re
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

NETLINK_ROUTE = 0
NETLINK_GENERIC = 16

NLM_F_REQUEST = 0x01
NLM_F_MULTI = 0x02
NLM_F_ACK = 0x04
NLM_F_ECHO = 0x08
NLM_F_DUMP_INTR = 0x10
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400
NLM_F_APPEND = 0x800
# flags of an NLMSG_ERROR message
NLM_F_CAPPED = 0x100
NLM_F_ACK_TLVS = 0x200

NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4

NLMSGERR_ATTR_MSG = 1
NLMSGERR_ATTR_OFFS = 2

SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11

NLA_F_NESTED = 0x8000
NLA_F_NET_BYTEORDER = 0x4000
NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xFFFF

NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
NLATTR = struct.Struct("=HH")  # len, type
GENLMSGHDR = struct.Struct("=BBH")  # cmd, version, reserved

GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
CTRL_ATTR_VERSION = 3


# appended to an EPERM: netlink refuses changes (and IPVS every command) without CAP_NET_ADMIN
EPERM_HINT = "the module must run as root (become: true) or with CAP_NET_ADMIN"


class NetlinkFailure(Exception):
    """Base class of every error of this client (the kernel's answers and unreadable replies)."""


class NetlinkError(NetlinkFailure):
    """The kernel answered a request with a negative errno."""

    def __init__(self, err: int, message: str = "", request: Optional[int] = None) -> None:
        self.errno = err
        self.kernel_message = message
        self.request = request
        text = f"{os.strerror(err)} (errno {err})"
        if message:
            text += f": {message}"
        if err == errno.EPERM:
            text += f" ({EPERM_HINT})"
        super().__init__(text)


class DumpInterrupted(NetlinkError):
    """Every attempt of a dump was interrupted (NLM_F_DUMP_INTR) by a concurrent change."""

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        super().__init__(
            errno.EINTR,
            f"the dump was interrupted by concurrent changes {attempts} time(s) in a row: the table kept changing,"
            " try again",
        )


class NetlinkBatchError(NetlinkFailure):
    """One or more requests of a pipelined batch failed.

    ``failures`` holds ``(index_in_batch, NetlinkError)`` pairs; every other
    request of the batch was acknowledged by the kernel.
    """

    def __init__(self, failures: List[Tuple[int, NetlinkError]]) -> None:
        self.failures = failures
        first = failures[0]
        super().__init__(f"{len(failures)} request(s) failed; first (#{first[0]}): {first[1]}")


class NetlinkProtocolError(NetlinkFailure):
    """The kernel sent something this client cannot make sense of (or did not answer in time)."""


class FamilyNotFound(NetlinkFailure):
    """A generic netlink family is not registered (its module is not loaded)."""

    def __init__(self, family: str) -> None:
        self.family = family
        super().__init__(f"generic netlink family {family!r} is not registered in the kernel")


def align4(length: int) -> int:
    return (length + 3) & ~3


# ---------------------------------------------------------------------------
# Attribute codecs and schemas
# ---------------------------------------------------------------------------

Packer = Callable[[Any], bytes]
Unpacker = Callable[[bytes], Any]


@dataclass(frozen=True)
class Codec:
    """How one attribute value is turned into bytes and back."""

    name: str
    pack: Packer
    unpack: Unpacker


def _int_codec(name: str, fmt: str) -> Codec:
    st = struct.Struct(fmt)
    return Codec(name, lambda v: st.pack(int(v)), lambda b: st.unpack_from(b.ljust(st.size, b"\0"))[0])


def _str_pack(value: Any) -> bytes:
    return str(value).encode("utf-8") + b"\0"


def _str_unpack(data: bytes) -> str:
    return data.split(b"\0", 1)[0].decode("utf-8", "replace")


CODECS: Dict[str, Codec] = {
    "u8": _int_codec("u8", "=B"),
    "u16": _int_codec("u16", "=H"),
    "u32": _int_codec("u32", "=I"),
    "u64": _int_codec("u64", "=Q"),
    "s32": _int_codec("s32", "=i"),
    "be16": _int_codec("be16", ">H"),
    "be32": _int_codec("be32", ">I"),
    "str": Codec("str", _str_pack, _str_unpack),
    "bin": Codec("bin", bytes, bytes),
    "flag": Codec("flag", lambda v: b"", lambda b: True),
}


def register_codec(codec: Codec) -> Codec:
    """Make a codec usable by name in ``Attr`` declarations."""
    CODECS[codec.name] = codec
    return codec


@dataclass(frozen=True)
class Attr:
    """One attribute of a schema: kernel id, our name, codec name or nested schema."""

    id: int
    name: str
    kind: Union[str, Schema]


@dataclass
class Schema:
    """A set of attributes sharing an id space (one ``enum`` of a uapi header)."""

    name: str
    attrs: Sequence[Attr]
    by_name: Dict[str, Attr] = field(init=False, repr=False)
    by_id: Dict[int, Attr] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.by_name = {a.name: a for a in self.attrs}
        self.by_id = {a.id: a for a in self.attrs}
        if len(self.by_name) != len(self.attrs) or len(self.by_id) != len(self.attrs):
            raise ValueError(f"schema {self.name} has duplicate attribute names or ids")

    def subset(self, names: Iterable[str], nested: Optional[Dict[str, Schema]] = None) -> Schema:
        """A schema with only ``names`` (same ids); ``parse`` then skips the rest cheaply.

        ``nested`` replaces the schema of nested attributes (e.g. by their own subsets).
        """
        nested = nested or {}
        keep = [Attr(a.id, a.name, nested.get(a.name, a.kind)) for a in self.attrs if a.name in set(names)]
        return Schema(self.name, keep)

    def layout(
        self, names: Sequence[str], nest: Optional[int] = None, sizes: Optional[Dict[str, int]] = None
    ) -> FixedLayout:
        """A compiled packer for always the same fixed-size attributes (see ``FixedLayout``)."""
        return FixedLayout(self, names, nest, sizes or {})

    def pack(self, values: Dict[str, Any]) -> bytes:
        """Pack ``{name: value}`` into a run of netlink attributes.

        ``None`` values are skipped; nested schemas take a dict.
        """
        out = bytearray()
        for key, value in values.items():
            if value is None:
                continue
            try:
                attr = self.by_name[key]
            except KeyError:
                raise KeyError(f"attribute {key!r} is not in schema {self.name}") from None
            if isinstance(attr.kind, Schema):
                payload = attr.kind.pack(value)
                atype = attr.id | NLA_F_NESTED
            else:
                payload = CODECS[attr.kind].pack(value)
                atype = attr.id
            out += NLATTR.pack(NLATTR.size + len(payload), atype)
            out += payload
            out += b"\0" * (align4(len(payload)) - len(payload))
        return bytes(out)

    def parse(self, data: bytes, offset: int = 0) -> Dict[str, Any]:
        """Parse a run of attributes; unknown ids are ignored."""
        # the hot path of big dumps: no generator, unknown attributes are never sliced
        result: Dict[str, Any] = {}
        by_id = self.by_id
        unpack = NLATTR.unpack_from
        end = len(data)
        while offset + 4 <= end:
            alen, atype = unpack(data, offset)
            if alen < 4 or offset + alen > end:
                raise NetlinkProtocolError(f"malformed attribute (len {alen} at offset {offset})")
            attr = by_id.get(atype & NLA_TYPE_MASK)
            if attr is not None:
                payload = data[offset + 4 : offset + alen]
                kind = attr.kind
                if isinstance(kind, Schema):
                    result[attr.name] = kind.parse(payload)
                else:
                    result[attr.name] = CODECS[kind].unpack(payload)
            offset += (alen + 3) & ~3
        return result


_FIXED_FORMATS = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "s32": "i", "be16": "H", "be32": "I"}


def fixed_size(kind: Union[str, Schema]) -> Optional[int]:
    """Payload size of an attribute of this codec if it is always the same (integers), else None."""
    if isinstance(kind, str) and kind in _FIXED_FORMATS:
        return struct.calcsize("=" + _FIXED_FORMATS[kind])
    return None


def _swap16(value: int) -> int:
    return ((value & 0xFF) << 8) | ((value >> 8) & 0xFF)


def _swap32(value: int) -> int:
    return int.from_bytes(int(value).to_bytes(4, "big"), "little")


class FixedLayout:
    """One ``struct`` for a fixed run of fixed-size attributes (optionally nested).

    ``pack(*values)`` gives the same bytes as ``Schema.pack`` of the same
    names in the same order, at a fraction of the cost; used on hot paths
    (thousands of similar requests).  ``sizes`` names binary attributes and
    their byte length (values are bytes, zero-padded to that length).
    """

    def __init__(self, schema: Schema, names: Sequence[str], nest: Optional[int], sizes: Dict[str, int]) -> None:
        fmt = ""
        template: List[Any] = []
        self.names = list(names)
        self.slots: List[Tuple[int, Optional[Callable[[Any], Any]]]] = []
        # where each attribute (header and padding included) sits, from the start of the layout
        self.spans: Dict[str, Tuple[int, int]] = {}
        little = sys.byteorder == "little"
        body = 0 if nest is None else NLATTR.size
        for name in names:
            attr = schema.by_name[name]
            if name in sizes:
                size, code, conv = sizes[name], "%ds" % sizes[name], None
            elif isinstance(attr.kind, str) and attr.kind in _FIXED_FORMATS:
                code = _FIXED_FORMATS[attr.kind]
                size = struct.calcsize("=" + code)
                conv = None
                if little and attr.kind == "be16":
                    conv = _swap16
                elif little and attr.kind == "be32":
                    conv = _swap32
            else:
                raise ValueError("attribute %s of %s has no fixed size" % (name, schema.name))
            pad = align4(size) - size
            fmt += "HH" + code + "x" * pad
            template += [NLATTR.size + size, attr.id, None]
            self.slots.append((len(template) - 1, conv))
            self.spans[name] = (body, body + NLATTR.size + size + pad)
            body += NLATTR.size + size + pad
        if nest is not None:
            fmt = "HH" + fmt
            template = [body, nest | NLA_F_NESTED] + template
            self.slots = [(i + 2, c) for i, c in self.slots]
        self.struct = struct.Struct("=" + fmt)
        self.template = template
        # unpacking: one struct for the headers (values skipped), one for the values (headers skipped)
        hfmt = vfmt = "="
        for part in re.findall(r"HH|\d*s|[BHIQi]|x", fmt):
            code = "4x" if part == "HH" else part
            size = struct.calcsize("=" + part)
            hfmt += part if part == "HH" else "%dx" % size
            vfmt += "4x" if part == "HH" else code
        slot_set = {slot[0] for slot in self.slots}
        self._hstruct = struct.Struct(hfmt)
        self._vstruct = struct.Struct(vfmt)
        self._consts = tuple(template[i] for i in range(len(template)) if i not in slot_set)
        # (value index, byte swap) of the big-endian attributes: ``pack`` applies them, ``pack_wire`` not
        self.convs = [(n, slot[1]) for n, slot in enumerate(self.slots) if slot[1] is not None]
        # packing: the struct's arguments picked (in C) from the constants followed by the values
        value_at = {slot[0]: n for n, slot in enumerate(self.slots)}
        picks, const_n = [], 0
        for i in range(len(template)):
            if i in value_at:
                picks.append(len(self._consts) + value_at[i])
            else:
                picks.append(const_n)
                const_n += 1
        self._pick = operator.itemgetter(*picks)

    def unpack(self, data: bytes, offset: int = 0) -> Optional[List[Any]]:
        """The values, if ``data[offset:]`` starts with exactly this layout's attribute headers, else None.

        Lets a caller take a fast path on the layout the kernel always sends
        and fall back to ``Schema.parse`` for anything else.
        """
        if len(data) - offset < self.struct.size or self._hstruct.unpack_from(data, offset) != self._consts:
            return None
        values = list(self._vstruct.unpack_from(data, offset))
        for n, conv in self.convs:
            values[n] = conv(values[n])
        return values

    def pack(self, *values: Any) -> bytes:
        if self.convs:
            converted = list(values)
            for n, conv in self.convs:
                converted[n] = conv(converted[n])
            values = tuple(converted)
        return self.struct.pack(*self._pick(self._consts + values))

    def pack_wire(self, *values: Any) -> bytes:
        """``pack`` of values already in wire byte order (``convs`` applied by the caller)."""
        return self.struct.pack(*self._pick(self._consts + values))


def iter_attrs(data: bytes, offset: int = 0) -> Iterator[Tuple[int, bytes]]:
    """Yield ``(type, payload)`` for each attribute in ``data[offset:]``."""
    end = len(data)
    while offset + NLATTR.size <= end:
        alen, atype = NLATTR.unpack_from(data, offset)
        if alen < NLATTR.size or offset + alen > end:
            raise NetlinkProtocolError(f"malformed attribute (len {alen} at offset {offset})")
        yield atype, bytes(data[offset + NLATTR.size : offset + alen])
        offset += align4(alen)


# ---------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------


@dataclass
class Message:
    """One received netlink message (header fields and payload after the header)."""

    type: int
    flags: int
    seq: int
    pid: int
    payload: bytes


def pack_message(msg_type: int, flags: int, seq: int, pid: int, payload: bytes) -> bytes:
    return NLMSGHDR.pack(NLMSGHDR.size + len(payload), msg_type, flags, seq, pid) + payload


def parse_messages(data: bytes, pid: Optional[int] = None) -> List[Message]:
    """The messages of one datagram (``data`` must be ``bytes``: payloads are slices of it).

    With ``pid``, only the messages for that port id (or the kernel's broadcast, 0); an
    NLMSG_OVERRUN among them raises.  A list, not a generator: a dump of a big table reads
    thousands of datagrams, and resuming a generator per message costs more on slow hosts.
    """
    out: List[Message] = []
    offset = 0
    end = len(data)
    unpack = NLMSGHDR.unpack_from
    while offset + 16 <= end:
        mlen, mtype, mflags, mseq, mpid = unpack(data, offset)
        if mlen < 16 or offset + mlen > end:
            raise NetlinkProtocolError(f"truncated netlink message (len {mlen})")
        if pid is None or mpid == pid or mpid == 0:
            if mtype == NLMSG_OVERRUN and pid is not None:
                raise NetlinkProtocolError("netlink receive buffer overrun")
            out.append(Message(mtype, mflags, mseq, mpid, data[offset + 16 : offset + mlen]))
        offset += (mlen + 3) & ~3
    return out


_ERRNO = struct.Struct("=i")


def _extack_text(payload: bytes, offset: int) -> str:
    text = ""
    for atype, data in iter_attrs(payload, offset):
        if atype & NLA_TYPE_MASK == NLMSGERR_ATTR_MSG:
            text = _str_unpack(data)
    return text


def parse_error(msg: Message) -> Tuple[int, str]:
    """Return ``(errno, extended ack text)`` of an NLMSG_ERROR message (errno 0 = ACK)."""
    payload = msg.payload
    if len(payload) < 4:
        raise NetlinkProtocolError(
            f"truncated NLMSG_ERROR message: {len(payload)} byte(s) of payload, its error code needs 4"
        )
    (err,) = _ERRNO.unpack_from(payload, 0)
    text = ""
    if msg.flags & NLM_F_ACK_TLVS:
        # struct nlmsgerr = int error + the offending nlmsghdr (+ its payload
        # unless the kernel capped it); TLVs follow.
        if msg.flags & NLM_F_CAPPED:
            tlv_off = 4 + NLMSGHDR.size
        elif len(payload) < 8:
            raise NetlinkProtocolError(
                f"truncated NLMSG_ERROR message: {len(payload)} byte(s) of payload, no room for the failed request"
            )
        else:
            (orig_len,) = struct.unpack_from("=I", payload, 4)
            tlv_off = 4 + align4(orig_len)
        if tlv_off > len(payload):
            raise NetlinkProtocolError(
                f"malformed NLMSG_ERROR message: its extended ack would start at byte {tlv_off}"
                f" of a {len(payload)}-byte payload"
            )
        text = _extack_text(payload, tlv_off)
    return -err, text


def parse_done(msg: Message) -> Tuple[int, str]:
    """Return ``(errno, extended ack text)`` of the NLMSG_DONE ending a dump (errno 0: the dump is complete).

    The kernel puts the dump's result there (int, 0 or a negative errno) and, with
    NLM_F_ACK_TLVS, extended ack attributes right after it.
    """
    payload = msg.payload
    if len(payload) < 4:
        return 0, ""  # no result: nothing went wrong
    (err,) = _ERRNO.unpack_from(payload, 0)
    if err >= 0:
        return 0, ""
    text = _extack_text(payload, 4) if msg.flags & NLM_F_ACK_TLVS else ""
    return -err, text


# ---------------------------------------------------------------------------
# Sockets
# ---------------------------------------------------------------------------

Request = Tuple[int, int, bytes]  # (message type, extra flags, payload)
# MSG_DONTWAIT as a plain int: or-ing the socket module's IntFlag costs an enum operation per receive
_DONTWAIT = int(socket.MSG_DONTWAIT)


class NetlinkSocket:
    """A netlink socket with one receive loop.

    ``transact`` sends one request and returns the reply messages (a whole
    dump when NLM_F_DUMP is set).  ``pipeline`` sends many requests with
    NLM_F_ACK, ``window`` at a time, and reads the acks in batches.
    """

    RECV_SIZE = 1 << 20
    # seconds to wait for each datagram of an answer before giving up (the kernel answers at once)
    RECV_TIMEOUT = 60.0
    # how often an interrupted dump (NLM_F_DUMP_INTR) is started again before giving up
    DUMP_RETRIES = 3

    _rbuf: Optional[bytearray] = None
    _poller: Any = None

    def __init__(self, protocol: int, rcvbuf: int = 8 << 20) -> None:
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, protocol)
        try:
            for opt, val in ((socket.SO_RCVBUF, rcvbuf), (socket.SO_SNDBUF, 1 << 20)):
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, opt, val)
                except OSError:
                    pass
            for opt in (NETLINK_EXT_ACK, NETLINK_CAP_ACK):
                try:
                    self.sock.setsockopt(SOL_NETLINK, opt, 1)
                except OSError:
                    pass
            self.sock.bind((0, 0))
            self.pid = self.sock.getsockname()[0]
        except BaseException:
            self.sock.close()
            raise
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> NetlinkSocket:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) & 0xFFFFFFFF or 1
        return self.seq

    def _recv_into(self, buf: bytearray, flags: int) -> int:
        """One datagram into ``buf``; without MSG_DONTWAIT, waits at most ``RECV_TIMEOUT`` seconds.

        The answer is usually queued already (acks are queued while the request is
        sent, the next part of a dump when the previous one is read): the first,
        non-blocking, read then costs no extra system call.  Not ``settimeout``:
        that would make the MSG_DONTWAIT reads of ``_drain_errors`` wait too.
        """
        try:
            return self.sock.recv_into(buf, 0, flags | _DONTWAIT)
        except BlockingIOError:
            if flags & _DONTWAIT:
                raise
        poller = self._poller
        if poller is None:
            poller = self._poller = select.poll()
            poller.register(self.sock.fileno(), select.POLLIN)
        deadline = time.monotonic() + self.RECV_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not poller.poll(int(remaining * 1000) + 1):
                raise NetlinkProtocolError(
                    f"no answer from the kernel within {self.RECV_TIMEOUT:g} s (netlink receive timeout)"
                )
            try:
                return self.sock.recv_into(buf, 0, flags | _DONTWAIT)
            except BlockingIOError:
                continue  # woken without data: wait for the rest of the time

    def _receive(self, flags: int = 0) -> List[Message]:
        """The messages of one datagram for this socket (raises ``BlockingIOError`` with MSG_DONTWAIT)."""
        # one reusable buffer: allocating RECV_SIZE per datagram is costly on slow (emulated) hosts
        buf = self._rbuf
        if buf is None:
            buf = self._rbuf = bytearray(self.RECV_SIZE)
        size = self._recv_into(buf, flags)
        return parse_messages(bytes(memoryview(buf)[:size]), self.pid)

    def transact(self, msg_type: int, flags: int, payload: bytes) -> List[Message]:
        """Send one request (ACK requested) and return its reply messages.

        A dump the kernel marks as interrupted by a concurrent change (NLM_F_DUMP_INTR)
        is read to its end and started again, up to ``DUMP_RETRIES`` times; then
        ``DumpInterrupted`` is raised.
        """
        dump = flags & NLM_F_DUMP == NLM_F_DUMP
        attempts = 0
        while True:
            attempts += 1
            replies, interrupted = self._transact_once(msg_type, flags, payload)
            if not interrupted:
                return replies
            if not dump or attempts > self.DUMP_RETRIES:
                raise DumpInterrupted(attempts)

    def _transact_once(self, msg_type: int, flags: int, payload: bytes) -> Tuple[List[Message], bool]:
        """``(reply messages, interrupted)`` of one request; every reply is read, to NLMSG_DONE or the ack."""
        seq = self._next_seq()
        self.sock.send(pack_message(msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, seq, self.pid, payload))
        replies: List[Message] = []
        interrupted = False
        while True:
            for msg in self._receive():
                if msg.seq != seq:
                    continue  # a stale answer to an earlier request
                mtype = msg.type
                if mtype == NLMSG_DONE:
                    err, text = parse_done(msg)
                    if err:
                        raise NetlinkError(err, text)
                    return replies, interrupted or bool(msg.flags & NLM_F_DUMP_INTR)
                if mtype == NLMSG_ERROR:
                    err, text = parse_error(msg)
                    if err:
                        raise NetlinkError(err, text)
                    return replies, interrupted
                if mtype == NLMSG_NOOP:
                    continue
                if msg.flags & NLM_F_DUMP_INTR:
                    interrupted = True  # read on to NLMSG_DONE: the next attempt must not meet this dump's rest
                replies.append(msg)

    def pipeline(self, requests: Iterable[Request], window: int = 256, acks: bool = True) -> int:
        """Send requests ``window`` at a time, each with NLM_F_ACK; read the acks.

        Returns the number of requests sent.  Raises ``NetlinkBatchError``
        listing every failed request (by its index) after the whole batch ran.

        With ``acks=False`` the requests carry no NLM_F_ACK: the kernel only
        answers the ones that fail (netlink always reports errors), requests
        are packed into 64 KiB datagrams, and one acknowledged NLMSG_NOOP at
        the end proves every earlier request was processed (netlink handles a
        socket's messages in order).  Same result, a fraction of the syscalls.
        """
        if not acks:
            return self._pipeline_errors_only(requests)
        failures: List[Tuple[int, NetlinkError]] = []
        pending: Dict[int, int] = {}
        buf = bytearray()
        index = 0
        for msg_type, flags, payload in requests:
            seq = self._next_seq()
            message = pack_message(msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, seq, self.pid, payload)
            # one send() is one datagram; the kernel processes every message in it
            if len(buf) + len(message) > 64 * 1024:
                self._send_datagram(buf)
            buf += message
            pending[seq] = index
            index += 1
            if len(pending) >= window:
                self._send_datagram(buf)
                self._read_acks(pending, failures)
        self._send_datagram(buf)
        self._read_acks(pending, failures)
        if failures:
            failures.sort(key=lambda f: f[0])
            raise NetlinkBatchError(failures)
        return index

    def _pipeline_errors_only(self, requests: Iterable[Request]) -> int:
        failures: List[Tuple[int, NetlinkError]] = []
        first_seq = self.seq + 1
        index = 0
        buf = bytearray()
        for msg_type, flags, payload in requests:
            message = pack_message(msg_type, flags | NLM_F_REQUEST, self._next_seq(), self.pid, payload)
            if len(buf) + len(message) > 64 * 1024:
                self._send_datagram(buf)
                self._drain_errors(first_seq, failures)
            buf += message
            index += 1
        barrier = self._next_seq()
        buf += pack_message(NLMSG_NOOP, NLM_F_REQUEST | NLM_F_ACK, barrier, self.pid, b"")
        self._send_datagram(buf)
        done = False
        while not done:
            for msg in self._receive():
                if msg.type != NLMSG_ERROR:
                    continue
                if msg.seq == barrier:
                    done = True
                    continue
                self._record_error(msg, first_seq, failures)
        if failures:
            failures.sort(key=lambda f: f[0])
            raise NetlinkBatchError(failures)
        return index

    def _record_error(self, msg: Message, first_seq: int, failures: List[Tuple[int, NetlinkError]]) -> None:
        err, text = parse_error(msg)
        if err:
            req_index = (msg.seq - first_seq) & 0xFFFFFFFF
            failures.append((req_index, NetlinkError(err, text, req_index)))

    def _drain_errors(self, first_seq: int, failures: List[Tuple[int, NetlinkError]]) -> None:
        """Read error replies already queued, without blocking (keeps the receive buffer from filling)."""
        while True:
            try:
                msgs = self._receive(_DONTWAIT)
            except BlockingIOError:
                return
            for msg in msgs:
                if msg.type == NLMSG_ERROR:
                    self._record_error(msg, first_seq, failures)

    def _read_acks(self, pending: Dict[int, int], failures: List[Tuple[int, NetlinkError]]) -> None:
        while pending:
            for msg in self._receive():
                if msg.type != NLMSG_ERROR or msg.seq not in pending:
                    continue
                req_index = pending.pop(msg.seq)
                err, text = parse_error(msg)
                if err:
                    failures.append((req_index, NetlinkError(err, text, req_index)))

    def _send_datagram(self, buf: bytearray) -> None:
        if buf:
            self.sock.send(bytes(buf))
            buf.clear()


class GenlSocket(NetlinkSocket):
    """A generic netlink socket bound to one family, resolved by name."""

    def __init__(self, family: str, rcvbuf: int = 8 << 20) -> None:
        super().__init__(NETLINK_GENERIC, rcvbuf)
        self.family_name = family
        try:
            self.family_id, self.family_version = self._resolve(family)
        except BaseException:
            self.close()
            raise

    def _resolve(self, family: str) -> Tuple[int, int]:
        attrs = CTRL_SCHEMA.pack({"family_name": family})
        try:
            replies = self.transact(GENL_ID_CTRL, 0, GENLMSGHDR.pack(CTRL_CMD_GETFAMILY, 1, 0) + attrs)
        except NetlinkError as exc:
            if exc.errno == errno.ENOENT:
                raise FamilyNotFound(family) from None
            raise
        for msg in replies:
            parsed = CTRL_SCHEMA.parse(msg.payload, GENLMSGHDR.size)
            if parsed.get("family_name") == family and "family_id" in parsed:
                return parsed["family_id"], parsed.get("version", 1)
        raise FamilyNotFound(family)

    @staticmethod
    def genl_payload(cmd: int, version: int, attrs: bytes) -> bytes:
        return GENLMSGHDR.pack(cmd, version, 0) + attrs

    def request(self, cmd: int, attrs: bytes = b"", flags: int = 0, version: int = 1) -> List[Tuple[int, bytes]]:
        """One generic netlink request; returns ``(cmd, attribute bytes)`` of each reply."""
        replies = self.transact(self.family_id, flags, self.genl_payload(cmd, version, attrs))
        out = []
        for m in replies:
            if len(m.payload) < GENLMSGHDR.size:
                raise NetlinkProtocolError(f"truncated generic netlink reply ({len(m.payload)} byte(s) of payload)")
            out.append((m.payload[0], m.payload[GENLMSGHDR.size :]))
        return out

    def dump(self, cmd: int, attrs: bytes = b"", version: int = 1) -> List[Tuple[int, bytes]]:
        return self.request(cmd, attrs, NLM_F_DUMP, version)

    def pipeline_cmds(
        self, cmds: Iterable[Tuple[int, bytes]], window: int = 256, version: int = 1, acks: bool = True
    ) -> int:
        """Pipeline ``(cmd, attribute bytes)`` writes to this family (see ``pipeline``)."""
        family = self.family_id
        hdr = GENLMSGHDR.pack
        return self.pipeline(((family, 0, hdr(c, version, 0) + a) for c, a in cmds), window, acks)


CTRL_SCHEMA = Schema(
    "ctrl",
    [
        Attr(CTRL_ATTR_FAMILY_ID, "family_id", "u16"),
        Attr(CTRL_ATTR_FAMILY_NAME, "family_name", "str"),
        Attr(CTRL_ATTR_VERSION, "version", "u32"),
    ],
)
