#!/usr/bin/env python3
"""A test peer: on each address given, answers on PORT with the source address it sees,
then (TCP) closes. An address written udp:ADDRESS is served over UDP. Used to tell
whether traffic arrived, and whether it was NATed on the way."""
import socket
import sys
import threading

port = int(sys.argv[1])


def open_socket(address, kind):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    server = socket.socket(family, kind)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    server.bind((address, port))
    return server


def serve_tcp(address):
    server = open_socket(address, socket.SOCK_STREAM)
    server.listen(16)
    while True:
        client, peer = server.accept()
        client.sendall(peer[0].encode())
        client.close()


def serve_udp(address):
    server = open_socket(address, socket.SOCK_DGRAM)
    while True:
        _, peer = server.recvfrom(100)
        server.sendto(peer[0].encode(), peer)


for spec in sys.argv[2:]:
    udp = spec.startswith("udp:")
    target = serve_udp if udp else serve_tcp
    threading.Thread(target=target, args=(spec[4:] if udp else spec,), daemon=True).start()
threading.Event().wait()
