#!/usr/bin/env python3
"""throughput.py serve ADDRESS PORT: takes one TCP stream, and answers with the rate it
received at, in bits per second, from its first byte to its last.
throughput.py send ADDRESS PORT BYTES: sends BYTES and prints the rate the server saw."""
import socket
import sys
import time

mode, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
family = socket.AF_INET6 if ":" in address else socket.AF_INET
if mode == "serve":
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, port))
    server.listen(1)
    while True:
        client, _ = server.accept()
        total, first = 0, None
        while True:
            chunk = client.recv(65536)
            if not chunk:
                break
            if first is None:
                first = time.monotonic()
            total += len(chunk)
        seconds = max(time.monotonic() - (first or time.monotonic()), 1e-6)
        client.sendall(str(int(total * 8 / seconds)).encode())
        client.close()
else:
    client = socket.create_connection((address, port), timeout=30)
    payload = b"\0" * 65536
    left = int(sys.argv[4])
    while left > 0:
        client.sendall(payload[:min(left, len(payload))])
        left -= min(left, len(payload))
    client.shutdown(socket.SHUT_WR)
    print(client.recv(100).decode())
