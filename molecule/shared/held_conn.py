"""Hold one TCP connection to a web server open and send HTTP requests over it: run inside the lab namespace.

Usage: held_conn.py ADDRESS PORT PATH SECONDS

Connects once, then for each line ``get <timeout>`` read on stdin sends ``GET PATH`` over that same
connection (HTTP/1.1 keep-alive) and prints one line:
``ok <epoch> <local port> <body>`` or ``FAIL <epoch> <local port> <reason>``.
It never reconnects: a reset or a closed connection is a FAIL. It exits on end of input, or after
SECONDS (bounded) whatever happens. Used by the HA test that holds a connection across a failover.
"""

from __future__ import annotations

import signal
import socket
import sys
import time


def read_response(sock: socket.socket) -> bytes:
    """One HTTP/1.1 response with a Content-Length; its body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed by the peer")
        data += chunk
    head, _sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 200"):
        raise ConnectionError(lines[0].decode(errors="replace"))
    length = 0
    for line in lines[1:]:
        name, _colon, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed by the peer in the body")
        body += chunk
    return body[:length]


def main() -> int:
    address, port, path, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    signal.alarm(seconds)
    sock = socket.create_connection((address, port), timeout=10)
    local = sock.getsockname()[1]
    request = ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, address)).encode()
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] != "get":
            continue
        sock.settimeout(float(words[1]) if len(words) > 1 else 10.0)
        try:
            sock.sendall(request)
            body = read_response(sock).decode(errors="replace").strip()
            print("ok %.3f %d %s" % (time.time(), local, body), flush=True)
        except OSError as exc:  # ConnectionError and socket timeouts included
            print("FAIL %.3f %d %s" % (time.time(), local, exc), flush=True)
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
