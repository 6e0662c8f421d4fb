#!/usr/bin/env python3
"""peer-client.py ADDRESS PORT [tcp|udp]: asks a peer-server.py and prints the source
address it saw. Fails (exit 1) when nothing answers within 2 seconds."""
import socket
import sys

address, port = sys.argv[1], int(sys.argv[2])
kind = sys.argv[3] if len(sys.argv) > 3 else "tcp"
try:
    if kind == "udp":
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        client = socket.socket(family, socket.SOCK_DGRAM)
        client.settimeout(2)
        client.sendto(b"?", (address, port))
        print(client.recvfrom(100)[0].decode())
    else:
        print(socket.create_connection((address, port), timeout=2).recv(100).decode())
except OSError as error:
    print(error, file=sys.stderr)
    sys.exit(1)
