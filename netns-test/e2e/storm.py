#!/usr/bin/env python3
"""The storm: pods added and deleted by many concurrent workers, each call made by podwire's
store (podwire-ipam) or the reference host-local at random, all on one dataDir. A pod may be
added by one and deleted by the other. Checked throughout: no address is handed out while
another live pod holds it, and no ADD fails. Checked at the end: no lease left, and after
the GC a runtime would run, no index entry either. Run by e2e/storm.sh, which names and cleans up."""
import argparse, concurrent.futures, json, os, random, sys, threading
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from podwire import cni_exec

parser = argparse.ArgumentParser()
parser.add_argument("--bin-dir", required=True, help="holds podwire-ipam and host-local")
parser.add_argument("--data", required=True)
parser.add_argument("--network", required=True)
parser.add_argument("--subnet", required=True)
parser.add_argument("--pods", type=int, default=500)
parser.add_argument("--workers", type=int, default=16)
parser.add_argument("--counts", required=True, help="where 'pods duplicates leaks failures' is written")
parser.add_argument("--seed", type=int, default=None)
args = parser.parse_args()

seed = args.seed if args.seed is not None else random.randrange(1 << 30)
print(f"seed {seed} (--seed to replay)")
config = json.dumps({"cniVersion": "1.0.0", "name": args.network, "type": "host-local",
                     "ipam": {"type": "host-local", "dataDir": args.data,
                              "ranges": [[{"subnet": args.subnet}]]}}).encode()
PLUGINS = {"podwire": os.path.join(args.bin_dir, "podwire-ipam"), "reference": os.path.join(args.bin_dir, "host-local")}

live = {}            # address -> container, for the pods added and not yet deleted
lock = threading.Lock()
duplicates, failures = [], []
calls = {"podwire": 0, "reference": 0}
added = 0           # pods whose ADD succeeded


def call(plugin, command, container):
    with lock:
        calls[plugin] += 1
    return cni_exec(PLUGINS[plugin], command, container, config, "/var/run/netns/storm", cni_path=args.bin_dir)


def add(container, rng):
    plugin = rng.choice(list(PLUGINS))
    run = call(plugin, "ADD", container)
    if run.returncode != 0:
        failures.append(f"{plugin} ADD {container}: {run.stdout[:200]!r}")
        return None
    address = json.loads(run.stdout)["ips"][0]["address"].split("/")[0]
    global added
    with lock:
        added += 1
        if address in live:
            duplicates.append(f"{address} given to {container} by {plugin} while {live[address]} holds it")
        live[address] = container
    return address


def delete(container, address, rng):
    # Out of the live set before the DEL starts: from then on the address may be handed out again.
    with lock:
        if live.get(address) == container:
            del live[address]
    plugin = rng.choice(list(PLUGINS))
    run = call(plugin, "DEL", container)
    if run.returncode != 0:
        failures.append(f"{plugin} DEL {container}: {run.stdout[:200]!r}")


def worker(index):
    rng = random.Random(seed * 1000 + index)
    mine = []
    for number in range(index, args.pods, args.workers):
        container = f"storm-{seed}-{number}"
        address = add(container, rng)
        if address:
            mine.append((container, address))
        # Churn: about half the time, a pod this worker added goes again at once.
        if mine and rng.random() < 0.5:
            delete(*mine.pop(rng.randrange(len(mine))), rng)
    return mine


with concurrent.futures.ThreadPoolExecutor(args.workers) as pool:
    remaining = [pod for pods in pool.map(worker, range(args.workers)) for pod in pods]
    peak_alive = len(remaining)
    rng = random.Random(seed)
    rng.shuffle(remaining)
    list(pool.map(lambda pod: delete(pod[0], pod[1], random.Random(hash(pod[0]))), remaining))

store = os.path.join(args.data, args.network)
index_dir = os.path.join(args.data, ".podwire." + args.network)


def listing(directory, keep=lambda name: True):
    return sorted(name for name in os.listdir(directory) if keep(name)) if os.path.isdir(directory) else []


leases_left = listing(store, lambda name: name[0].isdigit())
# podwire's index entries are hints beside the store; one whose pod the reference's DEL
# released stays until a GC, as a runtime runs it, drops it (the next ADD never trusts it).
# Dot-names are podwire's staging files, kept between calls so that the next write reuses
# their inodes; they are nobody's lease or hint.
def hint(name):
    return not name.startswith(".")


stale_hints = len(listing(index_dir, hint))
gc_config = dict(json.loads(config), cniVersion="1.1.0", **{"cni.dev/valid-attachments": []})
gc = cni_exec(PLUGINS["podwire"], "GC", "", json.dumps(gc_config), cni_path=args.bin_dir)
if gc.returncode != 0:
    failures.append(f"GC: {gc.stdout[:200]!r}")
hints_left = listing(index_dir, hint)
for line in duplicates[:10] + failures[:10]:
    print("  " + line)
leaks = len(leases_left) + len(hints_left)
print(f"{calls['podwire']} calls by podwire-ipam, {calls['reference']} by host-local; "
      f"{peak_alive} pods alive before the final DELs")
print(f"after the DELs: {len(leases_left)} leases, {stale_hints} stale index hints "
      f"(pods podwire added and the reference deleted); after a GC: {len(hints_left)} hints")
if leases_left or hints_left:
    print(f"  left behind: {(leases_left + hints_left)[:10]}")
print(f"storm: {added} of {args.pods} pods added, {args.workers} workers, {len(duplicates)} duplicates, {leaks} leaks,"
      f" {len(failures)} failed calls")
with open(args.counts, "w") as f:
    f.write(f"{added} {len(duplicates)} {leaks} {len(failures)}\n")
sys.exit(0 if added == args.pods and not duplicates and not leaks and not failures else 1)
