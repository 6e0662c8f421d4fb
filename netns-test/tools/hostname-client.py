#!/usr/bin/env python3
"""Asks a hostname-server.py for its name over HTTP or UDP, as the conformance test's dial
does, retrying for a few seconds; prints the answer ("NAME SOURCE-ADDRESS").

    hostname-client.py http|udp ADDRESS PORT
"""
import socket
import sys
import time
import urllib.request

protocol, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
host = f"[{address}]" if ":" in address else address
deadline = time.monotonic() + 10
while True:
    try:
        if protocol == "http":
            with urllib.request.urlopen(f"http://{host}:{port}/hostname", timeout=2) as reply:
                print(reply.read().decode())
        else:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as client:
                client.settimeout(1)
                client.sendto(b"hostname", (address, port))
                print(client.recvfrom(1024)[0].decode())
        sys.exit(0)
    except OSError as error:
        if time.monotonic() > deadline:
            print(f"no answer: {error}", file=sys.stderr)
            sys.exit(1)
        time.sleep(0.2)
