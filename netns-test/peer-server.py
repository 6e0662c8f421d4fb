#!/usr/bin/env python3
"""A test peer: on each address given, accepts TCP connections on PORT and answers each
with the source address it sees, then closes. Used to tell whether traffic was NATed."""
import socket
import sys
import threading

port = int(sys.argv[1])


def serve(address):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    server = socket.socket(family, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((address, port))
    server.listen(16)
    while True:
        client, peer = server.accept()
        client.sendall(peer[0].encode())
        client.close()


for address in sys.argv[2:]:
    threading.Thread(target=serve, args=(address,), daemon=True).start()
threading.Event().wait()
