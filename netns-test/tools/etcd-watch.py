#!/usr/bin/env python3
"""etcd's own latency, through the same v3 JSON gateway podwire-node uses.

  etcd-watch.py latency URL COUNT   puts COUNT keys under a prefix of its own, one at a time,
                                    and prints for each the milliseconds from the put's send
                                    to its event arriving on a watch of that prefix
  etcd-watch.py events URL PREFIX   prints "NANOSECONDS PUT|DELETE KEY" for every event under
                                    PREFIX as it arrives (wall clock), until killed
"""
import base64
import http.client
import json
import os
import sys
import time
import urllib.parse


def b64(text):
    return base64.b64encode(text.encode()).decode()


def prefix_end(prefix):
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return base64.b64encode(bytes(raw)).decode()


def connect(url, timeout=30):
    parts = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port or 2379, timeout=timeout)


def watch(url, prefix):
    """A stream of (nanoseconds, type, key) for each event under prefix, once the watch exists."""
    conn = connect(url, timeout=None)  # a quiet watch is not a failed one
    body = {"create_request": {"key": b64(prefix), "range_end": prefix_end(prefix)}}
    conn.request("POST", "/v3/watch", json.dumps(body), {"Content-Type": "application/json"})
    reply = conn.getresponse()
    if reply.status != 200:
        raise SystemExit(f"watch: HTTP {reply.status}")
    if not json.loads(reply.readline()).get("result", {}).get("created"):
        raise SystemExit("watch: not created")
    return stream(reply)


def stream(reply):
    while True:
        line = reply.readline()
        if not line:
            raise SystemExit("watch: the stream ended")
        now = time.time_ns()
        result = json.loads(line).get("result", {})
        for event in result.get("events", []):
            key = base64.b64decode(event["kv"]["key"]).decode()
            yield now, event.get("type", "PUT"), key


def put(conn, key, value):
    body = json.dumps({"key": b64(key), "value": b64(value)})
    conn.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
    reply = conn.getresponse()
    reply.read()
    if reply.status != 200:
        raise SystemExit(f"put: HTTP {reply.status}")


def latency(url, count):
    prefix = f"/podwire-bench/latency-{os.getpid()}/"
    events = watch(url, prefix)
    conn = connect(url)
    put(conn, prefix + "warm-up", "x")
    next(events)
    for n in range(count):
        key = f"{prefix}{n}"
        start = time.time_ns()
        put(conn, key, "x")
        for _, _, seen in events:
            if seen == key:
                break
        print(f"{(time.time_ns() - start) / 1e6:.3f}", flush=True)
        time.sleep(0.005)
    conn.request("POST", "/v3/kv/deleterange",
                 json.dumps({"key": b64(prefix), "range_end": prefix_end(prefix)}))
    conn.getresponse().read()


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "latency":
        latency(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 4 and sys.argv[1] == "events":
        for now, kind, key in watch(sys.argv[2], sys.argv[3]):
            print(now, kind, key, flush=True)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
