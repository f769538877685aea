"""A minimal DNS responder for a real server and a DNS client for the lab namespace (test fixtures).

Usage:
  dns_udp.py serve ANSWER ADDRESS...   answer every A query with ANSWER, on UDP port 53 of each
                                       ADDRESS (the VIP for DR clients, the real server's own
                                       address for keepalived's DNS_CHECK): a reply leaves from
                                       the address the query came to, as a DR real server's must
  dns_udp.py query SERVER NAME COUNT [INTERVAL]
                                       COUNT queries (one socket each, 1 s timeout), INTERVAL
                                       seconds apart (default 0); one line each: the A record's
                                       address, or FAIL

The real servers run it as a transient systemd unit the test starts and stops by name.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import sys
import time
from typing import List


def question(name: str) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    return labels + b"\0" + struct.pack("!HH", 1, 1)  # type A, class IN


def serve(answer: str, addresses: List[str]) -> None:
    socks = []
    for address in addresses:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((address, 53))
        socks.append(s)
    while True:
        ready, _w, _x = select.select(socks, [], [])
        for s in ready:
            data, peer = s.recvfrom(512)
            if len(data) < 12:
                continue
            qid, _flags, qdcount = struct.unpack("!HHH", data[:6])
            end = data.index(b"\0", 12) + 5  # the first question: name, type, class
            if qdcount != 1 or end > len(data):
                continue
            rr = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 5, 4) + socket.inet_aton(answer)
            s.sendto(struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + data[12:end] + rr, peer)


def query(server: str, name: str, count: int, interval: float = 0.0) -> None:
    for i in range(count):
        if i and interval:
            time.sleep(interval)
        qid = random.randrange(65536)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(1.0)
            s.sendto(struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question(name), (server, 53))
            try:
                data = s.recv(512)
            except OSError:
                print("FAIL", flush=True)
                continue
        ok = len(data) >= 16 and struct.unpack("!H", data[:2])[0] == qid and data[3] & 0x0F == 0
        print(socket.inet_ntoa(data[-4:]) if ok else "FAIL", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3:])
    else:
        query(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]) if len(sys.argv) > 5 else 0.0)
