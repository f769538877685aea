"""Watch ARP on the client side of a failover: run inside the lab namespace.

Usage: arp_watch.py IFACE ADDRESS SECONDS

For SECONDS (bounded) it prints every ARP frame seen on IFACE as
``<epoch> ARP <op> <sender mac> <sender ip> -> <target mac> <target ip>`` and, each
time it changes, the client's neighbour entry for ADDRESS as ``<epoch> NEIGH <entry>``.
Read by the HA failover test to show which MAC the client sent to and when it moved.
"""

from __future__ import annotations

import select
import socket
import struct
import subprocess
import sys
import time

ETH_P_ARP = 0x0806
OPS = {1: "request", 2: "reply"}


def mac(raw: bytes) -> str:
    return ":".join("%02x" % b for b in raw)


def frame_line(frame: bytes) -> str:
    """One ARP frame (Ethernet header included) as a text line, '' when it is not IPv4 ARP."""
    if len(frame) < 42:
        return ""
    _htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", frame[14:22])
    if ptype != 0x0800 or hlen != 6 or plen != 4:
        return ""
    sha, spa, tha, tpa = frame[22:28], frame[28:32], frame[32:38], frame[38:42]
    return "ARP %s %s %s -> %s %s" % (
        OPS.get(op, str(op)),
        mac(sha),
        socket.inet_ntoa(spa),
        mac(tha),
        socket.inet_ntoa(tpa),
    )


def neigh(address: str, iface: str) -> str:
    res = subprocess.run(
        ["ip", "neigh", "show", address, "dev", iface], capture_output=True, text=True, timeout=5, check=False
    )
    return res.stdout.strip() or "(none)"


def main() -> int:
    iface, address, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP))
    sock.bind((iface, 0))
    end = time.time() + seconds
    last = ""
    next_poll = 0.0
    with sock:
        while time.time() < end:
            now = time.time()
            if now >= next_poll:
                entry = neigh(address, iface)
                if entry != last:
                    print("%.3f NEIGH %s" % (now, entry), flush=True)
                    last = entry
                next_poll = now + 0.2
            ready, _w, _x = select.select([sock], [], [], 0.2)
            if ready:
                line = frame_line(sock.recv(2048))
                if line:
                    print("%.3f %s" % (time.time(), line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
