"""The names podwire gives a pod's links, as Sources/Plugin/Plugins's HostVethName makes them:
FNV-1a of container ID, NUL and ifname, as 16 hex digits; and the label of an attachment
(its host end's alias, its nftables comments) as Sources/Plugin/CNI's AttachmentLabel makes it. The
test helpers compute them here; as a command it prints the host end's name (lib.sh's
host_veth_of), or with --label the attachment's label.

usage: podnames.py CONTAINER_ID IFNAME
       podnames.py --label NETWORK CONTAINER_ID IFNAME"""
import sys


def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xffffffffffffffff
    return format(h, "016x")


def name_hash(container, ifname="eth0"):
    return fnv1a(container.encode() + b"\0" + ifname.encode())


LABEL_LIMIT = 254


def label(network, container, ifname="eth0"):
    full = f"{network} {container} {ifname}"
    if len(full.encode()) <= LABEL_LIMIT:
        return full
    short_id = f"{network} #{fnv1a(container.encode())} {ifname}"
    if len(short_id.encode()) <= LABEL_LIMIT:
        return short_id
    return f"#{fnv1a(network.encode())} #{fnv1a(container.encode())} {ifname}"


def host_veth(container, ifname="eth0"):
    return "pw" + name_hash(container, ifname)[:13]


def ifb(container, ifname="eth0"):
    return "pwi" + name_hash(container, ifname)[:12]


if __name__ == "__main__":
    if sys.argv[1] == "--label":
        print(label(*sys.argv[2:5]))
    else:
        print(host_veth(sys.argv[1], sys.argv[2]))
