#!/usr/bin/env python3
"""Probes pods continuously from inside one pod's network namespace: every INTERVAL seconds a
UDP "hostname" request (hostname-server.py's UDP port) to each target at once; a target that
has not answered when the next round starts has failed that round. Each round writes one
line per target: MILLISECONDS_SINCE_EPOCH LABEL 1|0. Runs until killed.

    prober.py INTERVAL PORT OUT LABEL=ADDRESS[,PORT]...
"""
import select
import socket
import sys
import time

interval, port, out = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
targets = []
for arg in sys.argv[4:]:
    label, target = arg.split("=", 1)
    address, _, target_port = target.partition(",")
    targets.append((label, address, int(target_port or port)))
sockets = {}
for label, address, _ in targets:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.setblocking(False)
    sockets[s] = label

with open(out, "a", buffering=1) as log:
    while True:
        start = time.time()
        for s, (label, address, target_port) in zip(sockets, targets):
            try:
                while s.recv(512):  # drop late answers of earlier rounds
                    pass
            except OSError:
                pass
            try:
                s.sendto(b"hostname", (address, target_port))
            except OSError:
                pass
        answered = set()
        deadline = start + interval
        while len(answered) < len(sockets) and time.time() < deadline:
            ready, _, _ = select.select([s for s in sockets if s not in answered], [], [],
                                        max(0, deadline - time.time()))
            for s in ready:
                try:
                    if s.recv(512):
                        answered.add(s)
                except OSError:
                    pass
        stamp = int(start * 1000)
        for s, label in sockets.items():
            log.write(f"{stamp} {label} {1 if s in answered else 0}\n")
        time.sleep(max(0, deadline - time.time()))
