#!/usr/bin/env python3
"""The malformed-input table: each bad input goes through the real binary, which must print
a CNI error JSON with the expected code and a message, exit non-zero, and change nothing on
the host: no link, no lease, no file outside the store. Run by e2e/malformed.sh, which makes
the netns, names and directories and cleans them up."""
import argparse, copy, json, os, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from podwire import attachment_names, cni_exec

parser = argparse.ArgumentParser()
parser.add_argument("--podwire", required=True)
parser.add_argument("--netns", required=True, help="a pod netns for the calls")
parser.add_argument("--bridge", required=True)
parser.add_argument("--subnet", required=True, help="an IPv4 /24 for the valid parts of configs")
parser.add_argument("--data", required=True, help="the store; it must hold no lease afterwards")
parser.add_argument("--work", required=True, help="holds a regular file and a directory to pass as netns")
parser.add_argument("--cni-path", required=True)
parser.add_argument("--counts", required=True, help="where 'tried behaved' is written")
args = parser.parse_args()

NETNS_PATH = f"/var/run/netns/{args.netns}"
BASE = {"cniVersion": "1.0.0", "name": "badnet", "type": "podwire", "bridge": args.bridge,
        "ipam": {"type": "host-local", "subnet": args.subnet, "dataDir": args.data}}
NET = args.subnet.rsplit(".", 1)[0]


def conf(*changes, base=BASE):
    """The base config with (path, value) changes; a value of DROP removes the key. A path is
    dotted ("ipam.type"), or a tuple for keys that hold dots."""
    doc = copy.deepcopy(base)
    for path, value in changes:
        keys = path if isinstance(path, tuple) else path.split(".")
        target = doc
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        if value is DROP:
            target.pop(keys[-1], None)
        else:
            target[keys[-1]] = value
    return json.dumps(doc)


DROP = object()


def ipam(**fields):
    return conf(("ipam", dict({"type": "host-local", "dataDir": args.data}, **fields)))


def ranges(*sets):
    return ipam(ranges=list(sets))


def runtime(**fields):
    return conf(("runtimeConfig", fields))


def prev(result):
    return conf(("prevResult", result))


# (expected code, what, stdin, environment changes)
CASES = [
    # --- stdin that is not a JSON object ---
    (6, "empty stdin", "", {}),
    (6, "whitespace only", "  \n\t ", {}),
    (6, "null", "null", {}),
    (6, "a list", "[]", {}),
    (6, "a string", '"podwire"', {}),
    (6, "a number", "42", {}),
    (6, "truncated JSON", BASE and conf()[:40], {}),
    (6, "text after the object", conf() + " x", {}),
    (6, "two objects", conf() + conf(), {}),
    (6, "a trailing comma", conf()[:-1] + ",}", {}),
    (6, "single quotes", "{'cniVersion':'1.0.0'}", {}),
    (6, "a comment", "// config\n" + conf(), {}),
    (6, "NaN", conf()[:-1] + ',"mtu":NaN}', {}),
    (6, "a number too big for a double", conf()[:-1] + ',"mtu":1e999}', {}),
    (6, "a leading zero", conf()[:-1] + ',"mtu":01500}', {}),
    (6, "a control character in a string", conf()[:-1] + ',"bridge":"a\tb"}', {}),
    (6, "a bad escape", conf()[:-1] + ',"bridge":"a\\qb"}', {}),
    (6, "10000 nested lists", conf()[:-1] + ',"x":' + "[" * 10000 + "]" * 10000 + "}", {}),
    (6, "an unterminated string", '{"cniVersion":"1.0.0","name":"badnet', {}),
    # --- cniVersion ---
    (1, "no cniVersion", conf(("cniVersion", DROP)), {}),
    (1, "cniVersion 0.2.0", conf(("cniVersion", "0.2.0")), {}),
    (1, "cniVersion 0.1.0", conf(("cniVersion", "0.1.0")), {}),
    (1, "cniVersion 9.9.9", conf(("cniVersion", "9.9.9")), {}),
    (1, "cniVersion 1.0", conf(("cniVersion", "1.0")), {}),
    (1, "an empty cniVersion", conf(("cniVersion", "")), {}),
    (6, "cniVersion as a number", conf(("cniVersion", 1.0)), {}),
    (1, "CHECK with cniVersion 0.3.1", conf(("cniVersion", "0.3.1")), {"CNI_COMMAND": "CHECK"}),
    (1, "STATUS with cniVersion 1.0.0", conf(), {"CNI_COMMAND": "STATUS"}),
    (1, "GC with cniVersion 1.0.0", conf(), {"CNI_COMMAND": "GC"}),
    # --- the network name, which becomes a directory ---
    (7, "no name", conf(("name", DROP)), {}),
    (7, "an empty name", conf(("name", "")), {}),
    (7, "a name with ../", conf(("name", "../../tmp/evil")), {}),
    (7, "a name with /", conf(("name", "a/b")), {}),
    (7, "a name that is ..", conf(("name", "..")), {}),
    (7, "a name starting with .", conf(("name", ".hidden")), {}),
    (7, "a name with NUL", conf(("name", "bad\u0000net")), {}),
    (7, "a name with a newline", conf(("name", "bad\nnet")), {}),
    (7, "a name of 300 bytes", conf(("name", "n" * 300)), {}),
    (7, "a name with a space", conf(("name", "bad net")), {}),
    (6, "a name as a number", conf(("name", 5)), {}),
    (6, "type as a list", conf(("type", ["podwire"])), {}),
    # --- the bridge plugin's keys ---
    (7, "a bridge name of 16 bytes", conf(("bridge", "b" * 16)), {}),
    (7, "a bridge name with /", conf(("bridge", "br/0")), {}),
    (7, "a bridge name with a space", conf(("bridge", "br 0")), {}),
    (7, "a bridge name with :", conf(("bridge", "br:0")), {}),
    (6, "a bridge name as a number", conf(("bridge", 0)), {}),
    (6, "mtu as a string", conf(("mtu", "1500")), {}),
    (6, "mtu with a fraction", conf(("mtu", 1500.5)), {}),
    (6, "mtu of 1e20", conf(("mtu", 1e20)), {}),
    (7, "mtu 67", conf(("mtu", 67)), {}),
    (7, "mtu 70000", conf(("mtu", 70000)), {}),
    (7, "mtu -1", conf(("mtu", -1)), {}),
    (7, "vlan 4095", conf(("vlan", 4095)), {}),
    (7, "vlan -5", conf(("vlan", -5)), {}),
    (6, "vlan as a string", conf(("vlan", "10")), {}),
    (7, "hairpinMode with promiscMode", conf(("hairpinMode", True), ("promiscMode", True)), {}),
    (6, "hairpinMode as a string", conf(("hairpinMode", "yes")), {}),
    (6, "isGateway as a number", conf(("isGateway", 1)), {}),
    (6, "ipMasq as a string", conf(("ipMasq", "true")), {}),
    (7, "ipMasqBackend pf", conf(("ipMasqBackend", "pf")), {}),
    (6, "macspoofchk as a string", conf(("macspoofchk", "true")), {}),
    (7, "a vlanTrunk id of 0", conf(("vlanTrunk", [{"id": 0}])), {}),
    (7, "a vlanTrunk minID without maxID", conf(("vlanTrunk", [{"minID": 100}])), {}),
    (7, "a vlanTrunk minID above its maxID", conf(("vlanTrunk", [{"minID": 200, "maxID": 100}])), {}),
    (6, "vlanTrunk as an object", conf(("vlanTrunk", {"id": 101})), {}),
    (6, "portIsolation as a number", conf(("portIsolation", 1)), {}),
    (7, "disableContainerInterface with ipam", conf(("disableContainerInterface", True)), {}),
    (6, "dns as a string", conf(("dns", "8.8.8.8")), {}),
    (6, "dns nameservers as a string", conf(("dns", {"nameservers": "8.8.8.8"})), {}),
    (7, "args.cni.mac that is not a MAC", conf(("args", {"cni": {"mac": "zz:zz"}})), {}),
    (7, "a multicast runtimeConfig.mac", runtime(mac="01:00:5e:00:00:01"), {}),
    (7, "an all-zero runtimeConfig.mac", runtime(mac="00:00:00:00:00:00"), {}),
    # --- ipam ---
    (6, "ipam as a string", conf(("ipam", "host-local")), {}),
    (6, "ipam as a list", conf(("ipam", [])), {}),
    (7, "ipam with no type", conf(("ipam", {"subnet": args.subnet})), {}),
    (7, "ipam with an empty type", conf(("ipam.type", "")), {}),
    (7, "an ipam type with ../", conf(("ipam.type", "../../bin/sh")), {}),
    (7, "an ipam type not in CNI_PATH", conf(("ipam.type", "no-such-ipam")), {}),
    (7, "host-local with no ranges and no subnet", ipam(), {}),
    (7, "a subnet that is not a prefix", ipam(subnet="10.1.2.0"), {}),
    (7, "a subnet that is text", ipam(subnet="ten.one"), {}),
    (7, "a subnet with host bits set", ipam(subnet=f"{NET}.3/24"), {}),
    (7, "a /32 subnet", ipam(subnet=f"{NET}.0/32"), {}),
    (7, "a prefix length of 33", ipam(subnet=f"{NET}.0/33"), {}),
    (6, "a subnet as a number", ipam(subnet=10), {}),
    (7, "rangeStart outside the subnet", ipam(subnet=f"{NET}.0/24", rangeStart="10.99.0.5"), {}),
    (7, "rangeStart after rangeEnd", ipam(subnet=f"{NET}.0/24", rangeStart=f"{NET}.50", rangeEnd=f"{NET}.10"), {}),
    (7, "a gateway that is not an address", ipam(subnet=f"{NET}.0/24", gateway="gw"), {}),
    (7, "an IPv4 gateway in an IPv6 range", ranges([{"subnet": "fd00::/64", "gateway": "10.0.0.1"}]), {}),
    (7, "an IPv6 rangeEnd in an IPv4 range", ranges([{"subnet": f"{NET}.0/24", "rangeEnd": "fd00::9"}]), {}),
    (7, "overlapping ranges in a set", ranges([{"subnet": "10.1.0.0/16"}, {"subnet": "10.1.2.0/24"}]), {}),
    (7, "overlapping range sets", ranges([{"subnet": "10.1.0.0/16"}], [{"subnet": "10.1.2.0/24"}]), {}),
    (7, "a set mixing IPv4 and IPv6", ranges([{"subnet": f"{NET}.0/24"}, {"subnet": "fd00::/64"}]), {}),
    (7, "an empty range set", ranges([]), {}),
    (7, "a range with no subnet", ranges([{"rangeStart": f"{NET}.5"}]), {}),
    (6, "ranges as a string", ipam(ranges="10.0.0.0/8"), {}),
    (6, "a range set that is an object", ipam(ranges=[{"subnet": f"{NET}.0/24"}]), {}),
    (7, "a relative dataDir", ipam(subnet=f"{NET}.0/24", dataDir="relative/dir"), {}),
    (7, "a route with no dst", ipam(subnet=f"{NET}.0/24", routes=[{"gw": f"{NET}.1"}]), {}),
    (7, "a route dst that is not a prefix", ipam(subnet=f"{NET}.0/24", routes=[{"dst": "default"}]), {}),
    (7, "a route gw of the other family",
     ipam(subnet=f"{NET}.0/24", routes=[{"dst": "0.0.0.0/0", "gw": "fd00::1"}]), {}),
    (6, "routes as a string", ipam(subnet=f"{NET}.0/24", routes="0.0.0.0/0"), {}),
    (5, "a resolvConf that does not exist", ipam(subnet=f"{NET}.0/24", resolvConf="/nonexistent/resolv.conf"), {}),
    (7, "args.cni.ips with text", conf(("args", {"cni": {"ips": ["ten"]}})), {}),
    (7, "runtimeConfig.ips with an octet of 300", runtime(ips=[f"{NET}.300"]), {}),
    (7, "a requested address outside every range", conf(), {"CNI_ARGS": "IP=10.99.99.99"}),
    (7, "CNI_ARGS IP that is not an address", conf(), {"CNI_ARGS": "IP=nope"}),
    # --- runtimeConfig capabilities ---
    (7, "hostPort 0", runtime(portMappings=[{"hostPort": 0, "containerPort": 80}]), {}),
    (7, "hostPort 70000", runtime(portMappings=[{"hostPort": 70000, "containerPort": 80}]), {}),
    (7, "a mapping with no containerPort", runtime(portMappings=[{"hostPort": 8080}]), {}),
    (7, "protocol icmp", runtime(portMappings=[{"hostPort": 8080, "containerPort": 80, "protocol": "icmp"}]), {}),
    (7, "a hostIP that is not an address",
     runtime(portMappings=[{"hostPort": 8080, "containerPort": 80, "hostIP": "localhost"}]), {}),
    (6, "portMappings as an object", runtime(portMappings={"hostPort": 8080}), {}),
    (6, "hostPort as a string", runtime(portMappings=[{"hostPort": "8080", "containerPort": 80}]), {}),
    (7, "ingressRate without ingressBurst", runtime(bandwidth={"ingressRate": 1000000}), {}),
    (7, "egressBurst without egressRate", runtime(bandwidth={"egressBurst": 1000000}), {}),
    (7, "an ingressRate podwire cannot shape", runtime(bandwidth={"ingressRate": 10**15, "ingressBurst": 1000}), {}),
    (6, "a negative egressRate", runtime(bandwidth={"egressRate": -1, "egressBurst": 10}), {}),
    (6, "bandwidth as a number", runtime(bandwidth=5), {}),
    # --- prevResult ---
    (6, "prevResult as a string", prev("x"), {}),
    (6, "a prevResult address without a prefix", prev({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2"}]}), {}),
    (6, "a prevResult interface index out of range",
     prev({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24", "interface": 3}]}), {}),
    (6, "a prevResult gateway of the other family",
     prev({"cniVersion": "1.0.0", "ips": [{"address": "10.0.0.2/24", "gateway": "fd00::1"}]}), {}),
    (1, "a prevResult of version 9.9.9", prev({"cniVersion": "9.9.9"}), {}),
    (7, "a prevResult route with a bad dst", prev({"cniVersion": "1.0.0", "routes": [{"dst": "nowhere"}]}), {}),
    (7, "a prevResult interface with no name",
     prev({"cniVersion": "1.0.0", "interfaces": [{"mac": "0a:58:00:00:00:01"}]}), {}),
    (6, "prevResult ips as an object", prev({"cniVersion": "1.0.0", "ips": {"address": "10.0.0.2/24"}}), {}),
    # --- the environment ---
    (4, "an unknown CNI_COMMAND", conf(), {"CNI_COMMAND": "EXPLODE"}),
    (4, "CNI_COMMAND in lower case", conf(), {"CNI_COMMAND": "add"}),
    (4, "no CNI_CONTAINERID", conf(), {"CNI_CONTAINERID": None}),
    (4, "an empty CNI_CONTAINERID", conf(), {"CNI_CONTAINERID": ""}),
    (4, "a container ID with ../", conf(), {"CNI_CONTAINERID": "../../etc"}),
    (4, "a container ID with /", conf(), {"CNI_CONTAINERID": "a/b"}),
    (4, "a container ID with a newline", conf(), {"CNI_CONTAINERID": "a\nb"}),
    (4, "a container ID of 5000 bytes", conf(), {"CNI_CONTAINERID": "c" * 5000}),
    (4, "no CNI_NETNS", conf(), {"CNI_NETNS": None}),
    (3, "a CNI_NETNS that does not exist", conf(), {"CNI_NETNS": "/var/run/netns/pw-no-such-netns"}),
    (4, "a CNI_NETNS that is a regular file", conf(), {"CNI_NETNS": os.path.join(args.work, "regular-file")}),
    (4, "a CNI_NETNS that is a directory", conf(), {"CNI_NETNS": os.path.join(args.work, "a-directory")}),
    (3, "a CNI_NETNS that is a dangling symlink", conf(), {"CNI_NETNS": os.path.join(args.work, "dangling")}),
    (4, "a CNI_NETNS that is a UTS namespace", conf(), {"CNI_NETNS": "/proc/self/ns/uts"}),
    (4, "a CNI_NETNS that is /dev/null", conf(), {"CNI_NETNS": "/dev/null"}),
    (4, "no CNI_IFNAME", conf(), {"CNI_IFNAME": None}),
    (4, "an ifname of 16 bytes", conf(), {"CNI_IFNAME": "abcdefghijklmnop"}),
    (4, "an ifname with /", conf(), {"CNI_IFNAME": "eth/0"}),
    (4, "an ifname that is ..", conf(), {"CNI_IFNAME": ".."}),
    (4, "an ifname with a space", conf(), {"CNI_IFNAME": "eth 0"}),
    (4, "an ifname with a newline", conf(), {"CNI_IFNAME": "eth\n0"}),
    (4, "an ifname with :", conf(), {"CNI_IFNAME": "eth:0"}),
    (4, "an unknown CNI_ARGS key without IgnoreUnknown", conf(), {"CNI_ARGS": "FOO=bar"}),
    (4, "a CNI_ARGS pair without =", conf(), {"CNI_ARGS": "novalue"}),
    (7, "CNI_ARGS MAC that is not a MAC", conf(), {"CNI_ARGS": "IgnoreUnknown=1;MAC=xyz"}),
    # --- GC ---
    (7, "GC without an attachment list", conf(("cniVersion", "1.1.0")), {"CNI_COMMAND": "GC"}),
    (6, "GC attachments as a string",
     conf(("cniVersion", "1.1.0"), (("cni.dev/valid-attachments",), "all")), {"CNI_COMMAND": "GC"}),
    (7, "a GC attachment with no ifname",
     conf(("cniVersion", "1.1.0"), (("cni.dev/valid-attachments",), [{"containerID": "x"}])), {"CNI_COMMAND": "GC"}),
]


def links(netns=None):
    command = ["ip", "-o", "link", "show"] if netns is None else ["ip", "-n", netns, "-o", "link", "show"]
    listing = subprocess.run(command, capture_output=True, text=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in listing.splitlines()}


def files_under(root):
    found = set()
    for directory, _, names in os.walk(root):
        found.update(os.path.join(directory, name) for name in names)
    return found


def outside_store():
    """What a call could write outside its store: the work dir, /tmp, the usual store and netns dirs."""
    seen = {path for path in files_under(args.work) if not path.startswith(args.data)}
    for directory in ("/tmp", "/var/lib/cni/networks", "/run/netns"):
        names = os.listdir(directory) if os.path.isdir(directory) else []
        seen.update(os.path.join(directory, name) for name in names)
    return seen


tried = behaved = 0
before = outside_store()
pod_links = links(args.netns)
host_links = links()
for index, (want, what, stdin, changes) in enumerate(CASES):
    container = f"malformed{index}"
    # Each case changes what a runtime would set: a value, or None for a variable left out.
    env = dict({"CNI_COMMAND": "ADD", "CNI_CONTAINERID": container, "CNI_NETNS": NETNS_PATH, "CNI_IFNAME": "eth0"},
               **changes)
    problems = []
    try:
        run = cni_exec(args.podwire, env.pop("CNI_COMMAND", None), env.pop("CNI_CONTAINERID", None), stdin,
                       env.pop("CNI_NETNS", None), timeout=30, ifname=env.pop("CNI_IFNAME", None),
                       cni_path=args.cni_path, **env)
    except subprocess.TimeoutExpired as expired:
        problems.append("no answer in 30 s")
        run = subprocess.CompletedProcess(expired.cmd, -9, expired.stdout or b"", expired.stderr or b"")
    if run.returncode == 0:
        problems.append("exit 0")
    try:
        reply = json.loads(run.stdout)
        if reply.get("code") != want:
            problems.append(f"code {reply.get('code')}, not {want}")
        if not isinstance(reply.get("msg"), str) or not reply["msg"]:
            problems.append("no msg")
        if not isinstance(reply.get("cniVersion"), str):
            problems.append("no cniVersion")
    except (ValueError, AttributeError):
        reply = {}
        problems.append(f"stdout is not an error JSON: {run.stdout[:120]!r}")
    ifname = dict(changes).get("CNI_IFNAME", "eth0") or "eth0"
    if attachment_names("-", dict(changes).get("CNI_CONTAINERID", container) or "", ifname)[0] in links():
        problems.append("a host veth was left")
    if links(args.netns) != pod_links:
        problems.append("the pod netns changed")
    if args.bridge in links() - host_links:
        # Nothing is decided after the host is touched, so a refused call makes no bridge.
        problems.append(f"bridge {args.bridge} was created")
        subprocess.run(["ip", "link", "del", args.bridge], capture_output=True)
    leases = [path for path in files_under(args.data)
              if os.path.basename(path)[:1].isdigit() or ":" in os.path.basename(path)]
    if leases:
        problems.append(f"leases left: {leases[:3]}")
    after = outside_store()
    if after - before:
        problems.append(f"new files: {sorted(after - before)[:3]}")
        before = after
    tried += 1
    if problems:
        print(f"  FAIL  {what}: {'; '.join(problems)}")
        print(f"        {run.stdout[:200].decode(errors='replace')}")
    else:
        behaved += 1
        print(f"  ok    {what}: code {want} ({json.dumps(reply.get('msg', ''))[1:-1][:110]})")

print(f"\nmalformed inputs: {tried} tried, {behaved} behaved")
with open(args.counts, "w") as f:
    f.write(f"{tried} {behaved}\n")
sys.exit(0 if tried == behaved else 1)
