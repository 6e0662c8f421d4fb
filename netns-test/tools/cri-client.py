#!/usr/bin/python3
"""A minimal CRI client: the four pod sandbox calls a kubelet makes to get a pod its
network, and Version and ListPodSandbox, over gRPC on a runtime's Unix socket.

Debian has no CRI API package and no crictl, so the messages are encoded here by hand, from
the public definitions in k8s.io/cri-api (pkg/apis/runtime/v1/api.proto); only the fields
this client sets or reads are written out. Runs with Debian's python3-grpcio.

    cri-client.py SOCKET version
    cri-client.py SOCKET run NAME UID NAMESPACE LOG_DIR [HOSTPORT:CONTAINERPORT[/udp]]...
    cri-client.py SOCKET status SANDBOX_ID      (JSON: id, state, ip, additionalIPs)
    cri-client.py SOCKET stop SANDBOX_ID
    cri-client.py SOCKET remove SANDBOX_ID
    cri-client.py SOCKET list                   (the sandbox IDs, a line each)
"""
import json
import sys

import grpc

SERVICE = "/runtime.v1.RuntimeService/"

# --- protobuf wire format: just varints and length-delimited fields ---


def varint(value):
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def field(number, value):
    """One field: ints as varints, str/bytes (and nested messages, as bytes) length-delimited."""
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | 2) + varint(len(data)) + data


def message(*fields):
    return b"".join(field(n, v) for n, v in fields if v not in (None, "", 0, b""))


def decode(data):
    """{field number: [values]}; varints as ints, length-delimited fields as bytes."""
    fields, at = {}, 0

    def read_varint():
        nonlocal at
        value = shift = 0
        while True:
            byte = data[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value

    while at < len(data):
        key = read_varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            value = read_varint()
        elif wire == 2:
            length = read_varint()
            value, at = data[at:at + length], at + length
        elif wire == 1:
            value, at = data[at:at + 8], at + 8
        elif wire == 5:
            value, at = data[at:at + 4], at + 4
        else:
            raise ValueError(f"wire type {wire} in field {number}")
        fields.setdefault(number, []).append(value)
    return fields


def first(fields, number, default=None):
    return fields.get(number, [default])[0]


# --- the CRI messages used (field numbers from runtime/v1 api.proto) ---

PROTOCOLS = {"tcp": 0, "udp": 1, "sctp": 2}  # enum Protocol


def port_mapping(text):
    """PortMapping: protocol = 1, container_port = 2, host_port = 3, host_ip = 4."""
    ports, _, protocol = text.partition("/")
    host, container = (int(p) for p in ports.split(":"))
    return message((1, PROTOCOLS[protocol or "tcp"]), (2, container), (3, host))


def run_request(name, uid, namespace, log_dir, ports):
    # PodSandboxMetadata: name = 1, uid = 2, namespace = 3, attempt = 4.
    metadata = message((1, name), (2, uid), (3, namespace))
    # PodSandboxConfig: metadata = 1, hostname = 2, log_directory = 3, port_mappings = 5,
    # labels = 6 (map entries: key = 1, value = 2), linux = 8 (defaults: pod namespaces).
    config = message((1, metadata), (2, name), (3, log_dir), (6, message((1, "podwire-test"), (2, "cri-client"))))
    config += b"".join(field(5, port_mapping(p)) for p in ports) + field(8, b"")
    # RunPodSandboxRequest: config = 1, runtime_handler = 2.
    return message((1, config))


def call(channel, method, request, timeout=120):
    return channel.unary_unary(SERVICE + method)(request, timeout=timeout)


def main(argv):
    socket, command, args = argv[1], argv[2], argv[3:]
    with grpc.insecure_channel("unix://" + socket) as channel:
        if command == "version":
            # VersionResponse: version = 1, runtime_name = 2, runtime_version = 3, runtime_api_version = 4.
            reply = decode(call(channel, "Version", message((1, "v1")), timeout=10))
            print(" ".join(first(reply, n, b"").decode() for n in (2, 3, 4)))
        elif command == "run":
            name, uid, namespace, log_dir, *ports = args
            # RunPodSandboxResponse: pod_sandbox_id = 1.
            reply = decode(call(channel, "RunPodSandbox", run_request(name, uid, namespace, log_dir, ports)))
            print(first(reply, 1, b"").decode())
        elif command == "status":
            # PodSandboxStatusRequest: pod_sandbox_id = 1. Response: status = 1.
            status = decode(first(decode(call(channel, "PodSandboxStatus", message((1, args[0])))), 1, b""))
            # PodSandboxStatus: id = 1, state = 3 (0 ready, 1 not ready), network = 5.
            # PodSandboxNetworkStatus: ip = 1, additional_ips = 2 (PodIP: ip = 1).
            network = decode(first(status, 5, b""))
            print(json.dumps({
                "id": first(status, 1, b"").decode(),
                "state": ["SANDBOX_READY", "SANDBOX_NOTREADY"][first(status, 3, 0)],
                "ip": first(network, 1, b"").decode(),
                "additionalIPs": [first(decode(extra), 1, b"").decode() for extra in network.get(2, [])],
            }))
        elif command == "list":
            # ListPodSandboxRequest: filter = 1 (none). Response: items = 1 (PodSandbox: id = 1).
            for item in decode(call(channel, "ListPodSandbox", b"")).get(1, []):
                print(first(decode(item), 1, b"").decode())
        elif command in ("stop", "remove"):
            # StopPodSandboxRequest and RemovePodSandboxRequest: pod_sandbox_id = 1.
            call(channel, {"stop": "StopPodSandbox", "remove": "RemovePodSandbox"}[command], message((1, args[0])))
        else:
            sys.exit(__doc__)


if __name__ == "__main__":
    try:
        main(sys.argv)
    except grpc.RpcError as error:
        sys.exit(f"{sys.argv[2]}: {error.code().name}: {error.details()}")
    except (IndexError, ValueError):
        sys.exit(__doc__)
