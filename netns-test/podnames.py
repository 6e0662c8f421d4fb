"""The names podwire gives a pod's links, as Sources/Podwire's HostVethName makes them:
FNV-1a of container ID, NUL and ifname, as 16 hex digits. The test helpers compute them
here; as a command it prints the host end's name (lib.sh's host_veth_of).

usage: podnames.py CONTAINER_ID IFNAME"""
import sys


def name_hash(container, ifname="eth0"):
    h = 0xcbf29ce484222325
    for b in container.encode() + b"\0" + ifname.encode():
        h ^= b
        h = (h * 0x100000001b3) & 0xffffffffffffffff
    return format(h, "016x")


def host_veth(container, ifname="eth0"):
    return "pw" + name_hash(container, ifname)[:13]


def ifb(container, ifname="eth0"):
    return "pwi" + name_hash(container, ifname)[:12]


if __name__ == "__main__":
    print(host_veth(sys.argv[1], sys.argv[2]))
