#!/usr/bin/env python3
"""SIGKILL trials: start a podwire ADD or DEL, kill it at an instant spread over the call's
own duration (measured first, on this machine, in this run), then do what a runtime does
next (a DEL, or every fourth trial a GC that keeps nothing), and count what leaked: lease
files, partial or empty lease files, the host veth, the ifb that shapes egress, and the
pod's nftables elements. The network's directory must hold exactly the leases of live pods:
right after a killed call, at most the pod's own whole lease; after its cleanup, none.

usage: crash.py PODWIRE NETNS CONFIG_JSON DATA_DIR NETWORK TRIALS MADE_LINKS
Container IDs are NETWORK plus the trial's number, so they carry the caller's run id; the
links a trial could make are appended to MADE_LINKS, for the caller's cleanup.
Prints "crash: N trials (M killed before they finished), L leaks" and exits non-zero if
anything leaked or too few kills landed inside a call."""
import json, os, random, signal, statistics, subprocess, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from podwire import attachment_names, cni_exec, cni_start

podwire, netns, config, data, network, trials, made_links = sys.argv[1:8]
trials = int(trials)
# Kills spread evenly over [0, a call's median duration] land inside the call about half the
# time; fewer than this share means the trials no longer test what they claim to.
MIN_SHARE_KILLED = 0.3


def run(command, cid):
    text = config
    if command == "GC":
        text = json.dumps(dict(json.loads(config), cniVersion="1.1.0", **{"cni.dev/valid-attachments": []}))
    return cni_exec(podwire, command, cid, text, netns)


def links_of(cid):
    """The attachment's host veth and ifb, written down for the caller's cleanup."""
    host_veth, ifb, _ = attachment_names(network, cid)
    with open(made_links, "a") as f:
        f.write(f"{host_veth}\n{ifb}\n")
    return host_veth, ifb


def start(command, cid):
    return cni_start(podwire, command, cid, config, netns)


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


def lease_files():
    """Every address-named file of the network: name -> content."""
    directory = os.path.join(data, network)
    found = {}
    for name in os.listdir(directory) if os.path.isdir(directory) else []:
        if name == "lock" or name.startswith("last_reserved_ip.") or name.startswith("."):
            continue
        with open(os.path.join(directory, name), "rb") as f:
            found[name] = f.read()
    return found


def duration(command):
    """The median wall time of a whole call, from exec to exit."""
    times = []
    for i in range(7):
        cid = f"{network}m{i}"
        links_of(cid)
        if command == "DEL":
            run("ADD", cid)
        began = time.monotonic()
        start(command, cid).wait()
        times.append(time.monotonic() - began)
        run("DEL", cid)
    return statistics.median(times)


spans = {command: duration(command) for command in ("ADD", "DEL")}
print(f"  a call takes {spans['ADD'] * 1000:.1f} ms (ADD) and {spans['DEL'] * 1000:.1f} ms (DEL) here;"
      " each kill lands at a uniform instant within that")
leaks, killed_mid_way = 0, 0
for trial in range(trials):
    cid = f"{network}x{trial}"
    links = links_of(cid)
    command = "ADD" if trial % 2 == 0 else "DEL"
    if command == "DEL":
        run("ADD", cid)
    child = start(command, cid)
    time.sleep(random.uniform(0, spans[command]))
    child.send_signal(signal.SIGKILL)
    if child.wait() == -signal.SIGKILL:
        killed_mid_way += 1
    leaked = []
    whole = f"{cid}\r\neth0".encode()
    for name, content in lease_files().items():
        if content != whole:
            leaked.append(f"lease {name} holding {content[:40]!r} right after the kill")
    follow_up = "GC" if trial % 4 == 3 else "DEL"
    cleanup = run(follow_up, cid)
    if cleanup.returncode != 0:
        leaked.append(f"{follow_up} failed: " + cleanup.stdout.decode())
    leaked += [f"lease {name} after {follow_up}" for name in lease_files()]
    for link in links:
        if os.path.exists("/sys/class/net/" + link):
            leaked.append("link " + link)
    elements = nft_elements_of(cid)
    if elements:
        leaked.append(f"{elements} nftables elements")
    if leaked:
        leaks += 1
        print(f"  trial {trial} ({command}, then {follow_up}): {', '.join(leaked)}")
share = killed_mid_way / trials if trials else 0
if share < MIN_SHARE_KILLED:
    print(f"  only {killed_mid_way} of {trials} kills landed before the call finished"
          f" (at least {MIN_SHARE_KILLED:.0%} expected)")
print(f"crash: {trials} trials ({killed_mid_way} killed before they finished), {leaks} leaks")
sys.exit(1 if leaks or share < MIN_SHARE_KILLED else 0)
