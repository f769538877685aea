# Copyright: (c) 2026, lvs.cluster contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Foo-over-UDP receive ports (generic netlink family "fou") for GUE real servers.

An IPVS destination with ``tun_type gue`` reaches the real server as UDP to
``tun_port`` carrying a GUE header and the inner IP packet.  The real server
needs a fou port of type GUE on that UDP port: the kernel strips UDP + GUE and
hands the inner packet to its protocol (IPIP -> ``tunl0``).

Checked against include/uapi/linux/fou.h (FOU_GENL_NAME "fou", version 1).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any, List, Optional

from ansible_collections.lvs.cluster.plugins.module_utils._netlink import (
    Attr,
    FamilyNotFound,
    GenlSocket,
    NetlinkFailure,
    Schema,
)

FOU_GENL_NAME = "fou"
FOU_GENL_VERSION = 1

FOU_CMD_ADD = 1
FOU_CMD_DEL = 2
FOU_CMD_GET = 3

FOU_ENCAP_DIRECT = 1
FOU_ENCAP_GUE = 2
ENCAP_NAMES = {FOU_ENCAP_DIRECT: "direct", FOU_ENCAP_GUE: "gue"}

FOU_SCHEMA = Schema(
    "fou",
    [
        Attr(1, "port", "be16"),
        Attr(2, "af", "u8"),
        Attr(3, "ipproto", "u8"),
        Attr(4, "type", "u8"),
        Attr(5, "remcsum_nopartial", "flag"),
        Attr(6, "local_v4", "bin"),
        Attr(7, "local_v6", "bin"),
        Attr(8, "peer_v4", "bin"),
        Attr(9, "peer_v6", "bin"),
        Attr(10, "peer_port", "be16"),
        Attr(11, "ifindex", "s32"),
    ],
)


class FouError(Exception):
    """A fou port could not be read, added or removed (every netlink failure of ``FouClient``)."""


@dataclass(frozen=True)
class FouPort:
    """A fou receive port as the kernel lists it."""

    port: int
    family: int  # 4 or 6
    encap: str  # gue or direct
    ipproto: int = 0
    bound: bool = False  # bound to a local/peer address or an interface


def port_from_attrs(attrs: Any) -> FouPort:
    # kernels since 5.7 always send these, zero for a port bound to nothing
    bound = any(attrs.get(k) for k in ("peer_port", "ifindex")) or any(
        any(attrs.get(k) or b"") for k in ("local_v4", "local_v6", "peer_v4", "peer_v6")
    )
    return FouPort(
        port=attrs.get("port", 0),
        family=6 if attrs.get("af") == socket.AF_INET6 else 4,
        encap=ENCAP_NAMES.get(attrs.get("type", 0), str(attrs.get("type", 0))),
        ipproto=attrs.get("ipproto", 0),
        bound=bound,
    )


class FouClient:
    """The fou family; ``available`` is False while the ``fou`` module is not loaded."""

    def __init__(self) -> None:
        self.sock: Optional[GenlSocket] = None
        try:
            self.sock = GenlSocket(FOU_GENL_NAME)
        except FamilyNotFound:
            self.sock = None
        except (NetlinkFailure, OSError) as exc:
            raise FouError(f"cannot open the fou generic netlink family: {exc}") from None

    @property
    def available(self) -> bool:
        return self.sock is not None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()

    def __enter__(self) -> FouClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _sock(self) -> GenlSocket:
        if self.sock is None:
            self.sock = GenlSocket(FOU_GENL_NAME)  # FamilyNotFound until the fou module is loaded
        return self.sock

    def ports(self) -> List[FouPort]:
        """Every fou receive port of this network namespace (none while the module is not loaded)."""
        if self.sock is None:
            return []
        try:
            replies = self.sock.dump(FOU_CMD_GET, b"", FOU_GENL_VERSION)
            return [port_from_attrs(FOU_SCHEMA.parse(data)) for _cmd, data in replies]
        except (NetlinkFailure, OSError) as exc:
            raise FouError(f"cannot list fou ports: {exc}") from None

    def add_gue(self, port: int, family: int) -> None:
        af = socket.AF_INET6 if family == 6 else socket.AF_INET
        attrs = FOU_SCHEMA.pack({"port": port, "af": af, "type": FOU_ENCAP_GUE})
        try:
            self._sock().request(FOU_CMD_ADD, attrs, 0, FOU_GENL_VERSION)
        except (NetlinkFailure, OSError) as exc:
            raise FouError(f"cannot add GUE receive port {port}: {exc}") from None

    def delete(self, port: int, family: int) -> None:
        af = socket.AF_INET6 if family == 6 else socket.AF_INET
        attrs = FOU_SCHEMA.pack({"port": port, "af": af})
        try:
            self._sock().request(FOU_CMD_DEL, attrs, 0, FOU_GENL_VERSION)
        except (NetlinkFailure, OSError) as exc:
            raise FouError(f"cannot remove fou port {port}: {exc}") from None
