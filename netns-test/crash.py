#!/usr/bin/env python3
"""SIGKILL trials: start a podwire ADD or DEL, kill it at a random instant, then do what a
runtime does next (DEL), and count what leaked: lease files and host veths.

usage: crash.py PODWIRE NETNS CONFIG_JSON DATA_DIR NETWORK TRIALS
Prints "crash: N trials, M leaks" and exits non-zero if anything leaked."""
import json, os, random, signal, subprocess, sys, time

podwire, netns, config, data, network, trials = sys.argv[1:7]
trials = int(trials)

def env(command, cid):
    e = dict(os.environ, CNI_COMMAND=command, CNI_CONTAINERID=cid, CNI_NETNS=netns, CNI_IFNAME="eth0")
    return e

def run(command, cid):
    return subprocess.run([podwire], input=config.encode(), env=env(command, cid), capture_output=True)

def host_veth(cid, ifname="eth0"):
    h = 0xcbf29ce484222325
    for b in cid.encode() + b"\0" + ifname.encode():
        h ^= b
        h = (h * 0x100000001b3) & 0xffffffffffffffff
    return "pw" + format(h, "016x")[:13]

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
    cleanup = run("DEL", cid)
    leaked = []
    if cleanup.returncode != 0:
        leaked.append("DEL failed: " + cleanup.stdout.decode())
    leaked += ["lease " + name for name in leases_of(cid)]
    if os.path.exists("/sys/class/net/" + host_veth(cid)):
        leaked.append("veth " + host_veth(cid))
    if leaked:
        leaks += 1
        print(f"  trial {trial} ({command}): {', '.join(leaked)}")
print(f"crash: {trials} trials ({killed_mid_way} killed before they finished), {leaks} leaks")
sys.exit(1 if leaks else 0)
