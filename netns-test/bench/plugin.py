#!/usr/bin/env python3
"""podwire against the reference bridge + host-local, in one run, interleaved: each call a
real exec (posix_spawn, timed to the child's exit), with a fresh pod netns as a runtime
makes it. Run through netns-test/bench/plugin.sh, which names things for the run and cleans up.

Prints a table (median, p90, max, ratio podwire / reference) and writes JSON.
"""
import argparse
import concurrent.futures
import ipaddress
import json
import os
import platform
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from podwire import cni_environment  # noqa: E402

PLUGINS = ("podwire", "reference")
# How long a pod lives between its ADD and its DEL. A new link sets off kernel work that
# runs on for tens of milliseconds, and a veth deleted meanwhile waits for it: measured
# here, one deleted within 20 ms of its ADD took 30-40 ms to go, one deleted after 100 ms
# took 14 ms. No pod lives less, so DELs are timed on settled pods.
SETTLE_SECONDS = 0.1

# --- one exec of a plugin ---


def spawn(argv, env, config_path):
    """(seconds, exit status, stdout) of one plugin call."""
    stdin = os.open(config_path or "/dev/null", os.O_RDONLY)
    out_r, out_w = os.pipe()
    actions = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
               (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)]
    start = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
    _, status, _ = os.wait4(pid, 0)
    elapsed = (time.perf_counter_ns() - start) / 1e9
    os.close(out_w)
    os.close(stdin)
    chunks = []
    while chunk := os.read(out_r, 65536):
        chunks.append(chunk)
    os.close(out_r)
    return elapsed, os.waitstatus_to_exitcode(status), b"".join(chunks)


# --- the kernel's own cost for a link: a veth made and deleted with one netlink request each ---

RTM_NEWLINK, RTM_DELLINK = 16, 17
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 1, 4, 0x200, 0x400
IFLA_IFNAME, IFLA_LINKINFO, IFLA_NET_NS_FD = 3, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1


def attr(kind, data):
    length = 4 + len(data)
    return struct.pack("HH", length, kind) + data + b"\0" * (-length % 4)


IFINFOMSG = struct.pack("BxHiII", socket.AF_UNSPEC, 0, 0, 0, 0)


class Netlink:
    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)  # NETLINK_ROUTE
        self.sock.bind((0, 0))
        self.seq = 0

    def request(self, kind, flags, body):
        self.seq += 1
        header = struct.pack("IHHII", 16 + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags, self.seq, 0)
        self.sock.send(header + body)
        reply = self.sock.recv(65536)
        error = struct.unpack_from("i", reply, 16)[0]
        if error:
            raise OSError(-error, os.strerror(-error))

    def add_veth(self, name, peer, netns_fd):
        peer_message = (IFINFOMSG + attr(IFLA_IFNAME, peer.encode() + b"\0")
                        + attr(IFLA_NET_NS_FD, struct.pack("I", netns_fd)))
        info = attr(IFLA_INFO_KIND, b"veth\0") + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_message))
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL,
                     IFINFOMSG + attr(IFLA_IFNAME, name.encode() + b"\0") + attr(IFLA_LINKINFO, info))

    def delete(self, name):
        self.request(RTM_DELLINK, 0, IFINFOMSG + attr(IFLA_IFNAME, name.encode() + b"\0"))


# --- the run ---


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.work
        self.run_id = args.run_id
        self.bins = {"podwire": os.path.join(self.work, "bin", "podwire"),
                     "reference": os.path.join(self.work, "bin", "bridge")}
        self.pause = args.pause
        self.cni_path = os.path.join(self.work, "bin")
        self.subnets = ipaddress.ip_network(args.supernet).subnets(new_prefix=22)
        self.results = {}
        # scenario -> what its floor is: the same work done with nothing but the kernel.
        self.floors = {}
        self.netns_counter = 0
        self.bridge_counter = 0
        self.netlink = Netlink()

    # names unique to the run, written down for bench.sh's cleanup

    def remember(self, kind, name):
        with open(os.path.join(self.work, f"made.{kind}"), "a") as made:
            made.write(name + "\n")

    def netns(self):
        self.netns_counter += 1
        name = f"pw{self.run_id}-b{self.netns_counter}"
        self.remember("netns", name)
        subprocess.run(["ip", "netns", "add", name], check=True)
        return name

    def drop_netns(self, name):
        subprocess.run(["ip", "netns", "del", name], check=False)

    def network(self, plugin, label, masq=False, dual=False):
        """A config file for one plugin: its own bridge and /22 (and /64), its own store."""
        self.bridge_counter += 1
        bridge = f"pwb{self.run_id}{self.bridge_counter:x}"
        self.remember("links", bridge)
        subnet = next(self.subnets)
        ranges = [[{"subnet": str(subnet)}]]
        if dual:
            ranges.append([{"subnet": f"fd{self.bridge_counter:02x}:{self.run_id[:4]}::/64"}])
        name = f"bench{self.run_id}-{label}-{plugin[0]}"
        config = {"cniVersion": "1.0.0", "name": name, "type": "podwire" if plugin == "podwire" else "bridge",
                  "bridge": bridge, "isGateway": True, "isDefaultGateway": True, "ipMasq": masq,
                  "ipam": {"type": "host-local", "ranges": ranges, "dataDir": os.path.join(self.work, "data")}}
        path = os.path.join(self.work, f"{name}.json")
        with open(path, "w") as f:
            json.dump(config, f)
        return {"path": path, "name": name, "subnet": subnet}

    def call(self, plugin, command, config, container, netns, prefix=()):
        """Seconds the call took; `prefix` runs it under another command."""
        env = cni_environment(command, container, f"/var/run/netns/{netns}" if netns else "", cni_path=self.cni_path)
        elapsed, code, out = spawn([*prefix, self.bins[plugin]], env, config["path"] if config else None)
        if code != 0:
            raise SystemExit(f"{plugin} {command} {container} failed ({code}): {out[:300].decode(errors='replace')}")
        return elapsed

    def record(self, scenario, plugin, samples, unit="ms"):
        self.results.setdefault(scenario, {})[plugin] = {"unit": unit, "samples": samples}

    @staticmethod
    def rotated(i, actors):
        """The actors of round i, each first in turn: no plugin, nor the floor, is always
        timed at the same place in a round (first after a pause, or last after the others)."""
        k = i % len(actors)
        return tuple(actors[k:]) + tuple(actors[:k])

    # scenarios

    def version(self):
        """VERSION, with the floor of any exec beside it (podwire-pause --version)."""
        samples = {p: [] for p in PLUGINS + ("floor",)}
        for i in range(self.args.iterations * 4):
            for actor in self.rotated(i, PLUGINS + ("floor",)):
                samples[actor].append(self.bare_exec() if actor == "floor"
                                      else self.call(actor, "VERSION", None, "", "") * 1000)
        for actor in PLUGINS + ("floor",):
            self.record("VERSION", actor, samples[actor])
        self.floors["VERSION"] = "bare exec of a static binary"

    def networks(self, label, **options):
        return {p: self.network(p, label, **options) for p in PLUGINS}

    def pod_cycles(self, label, configs, add=None, floor=None):
        """An ADD then a DEL of a pod in a fresh netns, per plugin per iteration, interleaved.
        Returns the ADDs' measures (`add`, by default the call's milliseconds) and the DELs'
        milliseconds. With `floor` (a podwire network for the floor's own pods), also the least
        any plugin call for the same pod costs, measured in the same loop so that it sees the
        same machine: the exec of a static binary that does nothing, plus one netlink request
        for the link. For ADD that is a bare veth into a fresh netns; for DEL, deleting the
        host end of a pod that podwire's ADD wired (a veth deleted right after it is made
        takes the kernel longer than a pod's does)."""
        def timed_add(plugin, config, container, ns):
            return self.call(plugin, "ADD", config, container, ns) * 1000
        adds, dels = {p: [] for p in PLUGINS + ("floor",)}, {p: [] for p in PLUGINS + ("floor",)}
        actors = PLUGINS + (("floor",) if floor else ())
        for i in range(self.args.iterations):
            pods = {}
            for actor in self.rotated(i, actors):
                ns = self.netns()
                if actor == "floor":
                    adds["floor"].append(self.bare_exec() + self.bare_veth(f"pwk{self.run_id}{label[0]}{i:x}"[:15]))
                    pods["floor"] = (self.wire(floor, f"pw{self.run_id}-{label}-f{i}", ns), ns)
                    continue
                container = f"pw{self.run_id}-{label}-{actor[0]}{i}"
                adds[actor].append((add or timed_add)(actor, configs[actor], container, ns))
                pods[actor] = (container, ns)
            time.sleep(SETTLE_SECONDS)
            for actor in self.rotated(i + 1, actors):
                container, ns = pods[actor]
                if actor == "floor":
                    dels["floor"].append(self.bare_exec() + self.bare_delete(container))
                else:
                    dels[actor].append(self.call(actor, "DEL", configs[actor], container, ns) * 1000)
            # Only now: a netns deleted sets the kernel tearing it down in the background,
            # which would land on whichever DEL came next.
            for _, ns in pods.values():
                self.drop_netns(ns)
        return adds, dels

    def bare_exec(self):
        """Milliseconds of the least a plugin call costs: the exec of a static binary with no
        language runtime that prints a line and exits (podwire-pause --version)."""
        elapsed, code, _ = spawn([self.pause, "--version"], {}, None)
        if code != 0:
            raise SystemExit(f"{self.pause} --version failed ({code})")
        return elapsed * 1000

    def bare_veth(self, name):
        """Milliseconds of a bare veth into a fresh netns (deleted again, untimed)."""
        ns = self.netns()
        fd = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
        self.remember("links", name)
        start = time.perf_counter_ns()
        self.netlink.add_veth(name, "eth0", fd)
        elapsed = (time.perf_counter_ns() - start) / 1e6
        self.netlink.delete(name)
        os.close(fd)
        self.drop_netns(ns)
        return elapsed

    def wire(self, config, container, ns):
        """A pod wired by podwire's ADD, for a floor to delete; returns its host end."""
        env = cni_environment("ADD", container, f"/var/run/netns/{ns}", cni_path=self.cni_path)
        _, code, out = spawn([self.bins["podwire"]], env, config["path"])
        if code != 0:
            raise SystemExit(f"podwire ADD {container} for a floor failed ({code}): "
                             f"{out[:300].decode(errors='replace')}")
        host_end = json.loads(out)["interfaces"][1]["name"]
        self.remember("links", host_end)
        return host_end

    def bare_delete(self, name):
        """Milliseconds of one RTM_DELLINK."""
        start = time.perf_counter_ns()
        self.netlink.delete(name)
        return (time.perf_counter_ns() - start) / 1e6

    def add_del(self, label, title, configs, floor=False):
        # The DEL floor's pods live on a network of their own, whose leases stay behind.
        floor_network = self.network("podwire", f"{label}-floor") if floor else None
        adds, dels = self.pod_cycles(label, configs, floor=floor_network)
        for plugin in PLUGINS + (("floor",) if floor else ()):
            self.record(f"ADD {title}", plugin, adds[plugin])
            self.record(f"DEL {title}", plugin, dels[plugin])
        if floor:
            self.floors[f"ADD {title}"] = "bare exec + bare veth create"
            self.floors[f"DEL {title}"] = "bare exec + bare pod veth delete"

    def peak_rss(self):
        """Maximum resident set of an ADD, as GNU time reads it from wait4: a child spawned
        straight from this Python process would inherit its high-water mark across exec."""
        report = os.path.join(self.work, "rss")

        def measured_add(plugin, config, container, ns):
            self.call(plugin, "ADD", config, container, ns, prefix=("/usr/bin/time", "-f", "%M", "-o", report))
            with open(report) as f:
                return int(f.read().split()[-1])
        samples, _ = self.pod_cycles("rss", self.networks("rss"), add=measured_add)
        for plugin in PLUGINS:
            self.record("peak RSS of an ADD", plugin, samples[plugin], unit="KiB")

    def density(self):
        for count in self.args.density:
            configs = self.networks(f"n{count}")
            for plugin in PLUGINS:
                self.populate(configs[plugin], count)
            self.add_del(f"n{count}", f"with {count} pods", configs)

    def populate(self, config, count):
        """Leases of other pods, in the reference's format, from the top of the range down,
        so that round-robin allocation starts as on a busy node."""
        directory = os.path.join(self.work, "data", config["name"])
        os.makedirs(directory, exist_ok=True)
        hosts = list(config["subnet"].hosts())[1:]
        for i, address in enumerate(hosts[len(hosts) - count:]):
            with open(os.path.join(directory, str(address)), "w") as f:
                f.write(f"existing{i}\r\neth0")

    def concurrency(self):
        """Rounds of `pods` pods added then deleted `workers` at a time, by each plugin and by
        the kernel alone, in an order rotated from round to round; each rate is the median
        of the rounds."""
        pods, workers = self.args.concurrent_pods, self.args.workers
        scenarios = (f"pods/s, {pods} added then deleted {workers} at a time",
                     f"ADDs/s, {workers} at a time", f"DELs/s, {workers} at a time")
        rates = {}
        for run in range(self.args.concurrency_runs):
            for actor in self.rotated(run, PLUGINS + ("floor",)):
                measure = self.kernel_throughput if actor == "floor" else self.plugin_throughput
                for scenario, rate in zip(scenarios, measure(actor, pods, workers, run)):
                    rates.setdefault((scenario, actor), []).append(rate)
        for (scenario, actor), samples in rates.items():
            self.record(scenario, actor, samples, unit="pods/s")
        self.floors.update(zip(scenarios, ("the kernel alone, as below", f"bare veths made, {workers} at a time",
                                           f"pods' veths deleted, {workers} at a time")))

    def plugin_throughput(self, plugin, pods, workers, run):
        """(pods, ADDs, DELs) per second of one round."""
        config = self.network(plugin, f"c{run}")
        spaces = [self.netns() for _ in range(pods)]
        containers = [f"pw{self.run_id}-c{run}-{plugin[0]}{i}" for i in range(pods)]
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            start = time.perf_counter()
            list(pool.map(lambda i: self.call(plugin, "ADD", config, containers[i], spaces[i]), range(pods)))
            adding = time.perf_counter() - start
            time.sleep(SETTLE_SECONDS)
            start = time.perf_counter()
            list(pool.map(lambda i: self.call(plugin, "DEL", config, containers[i], spaces[i]), range(pods)))
            deleting = time.perf_counter() - start
        for ns in spaces:
            self.drop_netns(ns)
        return pods / (adding + deleting), pods / adding, pods / deleting

    def kernel_throughput(self, _, pods, workers, run):
        """The kernel alone, `workers` at a time, each worker with a netlink socket of its own:
        as many bare veths made as pods, and the host ends of as many pods (wired beforehand
        by podwire's ADD, untimed, then settled) deleted: how fast the link changes
        themselves go when many run at once, which the kernel largely serialises."""
        def each(action):
            sockets = [Netlink() for _ in range(workers)]
            def work(worker):
                for i in range(worker, pods, workers):
                    action(sockets[worker], i)
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                start = time.perf_counter()
                list(pool.map(work, range(workers)))
                return time.perf_counter() - start

        spaces = [self.netns() for _ in range(pods)]
        names = [f"pwk{self.run_id}{run:x}c{i:x}"[:15] for i in range(pods)]
        for name in names:
            self.remember("links", name)
        descriptors = [os.open(f"/var/run/netns/{ns}", os.O_RDONLY) for ns in spaces]
        creating = each(lambda netlink, i: netlink.add_veth(names[i], "eth0", descriptors[i]))
        each(lambda netlink, i: netlink.delete(names[i]))
        for fd in descriptors:
            os.close(fd)

        config = self.network("podwire", f"cfloor{run}")
        host_ends = [self.wire(config, f"pw{self.run_id}-cf{run}-{i}", spaces[i]) for i in range(pods)]
        time.sleep(SETTLE_SECONDS)
        deleting = each(lambda netlink, i: netlink.delete(host_ends[i]))
        for ns in spaces:
            self.drop_netns(ns)
        return pods / (creating + deleting), pods / creating, pods / deleting


def stats(samples):
    ordered = sorted(samples)
    def at(q):
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
    return {"median": at(0.5), "p90": at(0.9), "max": ordered[-1], "n": len(ordered)}


def report(bench, seconds):
    rows = []
    print(f"\n{'scenario':44} {'podwire median / p90 / max':>30} {'reference median / p90 / max':>30} {'ratio':>6}")
    for scenario, by_plugin in bench.results.items():
        p, r = (by_plugin.get(name) for name in PLUGINS)
        if not p or not r:
            continue
        ps, rs = stats(p["samples"]), stats(r["samples"])
        ratio = ps["median"] / rs["median"]
        unit = p["unit"]
        row = {"scenario": scenario, "unit": unit, "podwire": ps, "reference": rs, "ratio": ratio}
        floor = by_plugin.get("floor")
        if floor:
            fs = stats(floor["samples"])
            row["floor"] = dict(fs, what=bench.floors[scenario])
            if unit == "ms":
                # What each plugin spends beyond the kernel's own work for the same thing.
                row["above_floor_ratio"] = (ps["median"] - fs["median"]) / (rs["median"] - fs["median"])
                row["floor_share_of_podwire"] = fs["median"] / ps["median"]
            else:
                # For a rate: how it compares with the kernel's own rate for the link changes.
                row["share_of_kernel_rate"] = {"podwire": ps["median"] / fs["median"],
                                               "reference": rs["median"] / fs["median"]}
        rows.append(row)
        fmt = (lambda s: f"{s['median']:.0f} / {s['p90']:.0f} / {s['max']:.0f}") if unit != "ms" else \
              (lambda s: f"{s['median']:.2f} / {s['p90']:.2f} / {s['max']:.2f}")
        print(f"{scenario + ' (' + unit + ')':44} {fmt(ps):>30} {fmt(rs):>30} {ratio:6.2f}")
        if floor and unit == "ms":
            print(f"{'  ' + bench.floors[scenario] + ' (ms)':44} {fmt(fs):>30} "
                  f"{'above it: podwire / reference':>30} {row['above_floor_ratio']:6.2f}")
        elif floor:
            shares = row["share_of_kernel_rate"]
            of_it = f"of it: podwire {shares['podwire']:.0%}, reference {shares['reference']:.0%}"
            print(f"{'  ' + bench.floors[scenario] + ' (' + unit + ')':44} {fmt(fs):>30} {of_it:>37}")
    result = {"machine": {"kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version()},
              "iterations": bench.args.iterations, "seconds": round(seconds, 1), "rows": rows}
    with open(bench.args.json, "w") as f:
        json.dump(result, f, indent=1)
    print(f"\n{len(rows)} rows in {seconds:.0f} s; JSON: {bench.args.json}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--supernet", required=True, help="an IPv4 /16 or larger to carve /22s from")
    parser.add_argument("--json", required=True)
    parser.add_argument("--pause", required=True, help="podwire-pause, whose --version is the floor of an exec")
    parser.add_argument("--iterations", type=int, default=21)
    parser.add_argument("--density", type=int, nargs="*", default=[1, 500, 1000])
    parser.add_argument("--concurrent-pods", type=int, default=200)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--concurrency-runs", type=int, default=5, help="rounds of the concurrency rows")
    args = parser.parse_args()
    bench = Bench(args)
    start = time.perf_counter()
    bench.version()
    bench.add_del("v4", "v4", bench.networks("v4"), floor=True)
    bench.add_del("masq", "ipMasq", bench.networks("masq", masq=True))
    bench.add_del("dual", "dual stack", bench.networks("dual", dual=True))
    bench.density()
    bench.concurrency()
    bench.peak_rss()
    report(bench, time.perf_counter() - start)


if __name__ == "__main__":
    main()
