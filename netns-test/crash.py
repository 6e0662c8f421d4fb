#!/usr/bin/env python3
"""SIGKILL trials: start a podwire ADD or DEL, kill it at a random instant, then do what a
runtime does next (a DEL, or every fourth trial a GC that keeps nothing), and count what
leaked: lease files, the host veth, the ifb that shapes egress (and with both, their tc
qdiscs), and the pod's nftables elements.

usage: crash.py PODWIRE NETNS CONFIG_JSON DATA_DIR NETWORK TRIALS
Prints "crash: N trials, M leaks" and exits non-zero if anything leaked."""
import json, os, random, signal, subprocess, sys, time
from podnames import host_veth, ifb

podwire, netns, config, data, network, trials = sys.argv[1:7]
trials = int(trials)

def env(command, cid):
    e = dict(os.environ, CNI_COMMAND=command, CNI_CONTAINERID=cid, CNI_NETNS=netns, CNI_IFNAME="eth0")
    return e

def run(command, cid):
    text = config
    if command == "GC":
        text = json.dumps(dict(json.loads(config), cniVersion="1.1.0", **{"cni.dev/valid-attachments": []}))
    return subprocess.run([podwire], input=text.encode(), env=env(command, cid), capture_output=True)

def nft_elements_of(cid):
    listing = subprocess.run(["nft", "-j", "list", "table", "inet", "podwire"], capture_output=True, text=True)
    if listing.returncode != 0:
        return 0
    count = 0
    for item in json.loads(listing.stdout)["nftables"]:
        found = item.get("set") or item.get("map") or {}
        for element in found.get("elem", []):
            element = element[0] if isinstance(element, list) else element
            comment = element.get("elem", {}).get("comment", "") if isinstance(element, dict) else ""
            if f" {cid} " in comment:
                count += 1
    return count

def leases_of(cid):
    directory = os.path.join(data, network)
    found = []
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if name in ("lock",) or name.startswith("last_reserved_ip.") or name.startswith("."):
            continue
        with open(path, "rb") as f:
            if f.read().split(b"\r\n")[0].strip() == cid.encode():
                found.append(name)
    return found

leaks, killed_mid_way = 0, 0
for trial in range(trials):
    cid = f"crash{os.getpid()}x{trial}"
    command = "ADD" if trial % 2 == 0 else "DEL"
    if command == "DEL":
        run("ADD", cid)
    child = subprocess.Popen([podwire], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=env(command, cid))
    child.stdin.write(config.encode())
    child.stdin.close()
    time.sleep(random.uniform(0, 0.008 if command == "ADD" else 0.03))
    child.send_signal(signal.SIGKILL)
    if child.wait() == -signal.SIGKILL:
        killed_mid_way += 1
    follow_up = "GC" if trial % 4 == 3 else "DEL"
    cleanup = run(follow_up, cid)
    leaked = []
    if cleanup.returncode != 0:
        leaked.append(f"{follow_up} failed: " + cleanup.stdout.decode())
    leaked += ["lease " + name for name in leases_of(cid)]
    for link in (host_veth(cid), ifb(cid)):
        if os.path.exists("/sys/class/net/" + link):
            leaked.append("link " + link)
    elements = nft_elements_of(cid)
    if elements:
        leaked.append(f"{elements} nftables elements")
    if leaked:
        leaks += 1
        print(f"  trial {trial} ({command}, then {follow_up}): {', '.join(leaked)}")
print(f"crash: {trials} trials ({killed_mid_way} killed before they finished), {leaks} leaks")
sys.exit(1 if leaks else 0)
