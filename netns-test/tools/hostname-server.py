#!/usr/bin/env python3
"""The pod side of Kubernetes' "Granular Checks: Pods", as netexec serves it: an HTTP and a
UDP "hostname" endpoint. Each answer is the pod's name and the address the request came
from, so that a test sees both who answered and whether the request was NATed on the way.

    hostname-server.py NAME HTTP_PORT UDP_PORT ADDRESS...
"""
import http.server
import socket
import sys
import threading

name, http_port, udp_port, addresses = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{name} {self.client_address[0]}".encode()
        self.send_response(200 if self.path.startswith("/hostname") else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True


def serve_http(address):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    server_class = type("Server", (Server,), {"address_family": family})
    server_class((address, http_port), Handler).serve_forever()


def serve_udp(address):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    server = socket.socket(family, socket.SOCK_DGRAM)
    server.bind((address, udp_port))
    while True:
        request, peer = server.recvfrom(1024)
        if request.strip() == b"hostname":
            server.sendto(f"{name} {peer[0]}".encode(), peer)


threads = [threading.Thread(target=serve_http, args=(a,), daemon=True) for a in addresses]
threads += [threading.Thread(target=serve_udp, args=(a,), daemon=True) for a in addresses]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
