"""The Python side of netns-test's library: the one way its helpers run a plugin, and the
names podwire gives an attachment, asked of podwire itself. Import it with
`sys.path.insert(0, <netns-test>/lib)`; lib.sh's cni_exec is the shell side of cni_exec.

    cni_environment(command, container, netns, ifname="eth0", cni_path=..., **extra)
    cni_exec(plugin, command, container, config, netns="", ...) -> CompletedProcess
    cni_start(plugin, command, container, config, netns="", ...) -> Popen, config written
    attachment_names(network, container, ifname) -> (host_veth, ifb, label)"""
import os, subprocess

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LEASES = os.environ.get("LEASES", os.path.join(REPO, ".build", "release", "podwire-leases"))


def cni_environment(command, container, netns="", ifname="eth0", cni_path=None, **extra):
    """What a runtime sets for one call: the CNI_* variables and a PATH, nothing else of ours.
    A value of None leaves that variable out (a call missing it)."""
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "CNI_COMMAND": command,
           "CNI_CONTAINERID": container, "CNI_NETNS": netns, "CNI_IFNAME": ifname,
           "CNI_PATH": cni_path or os.environ.get("CNI_PATH", ""), **extra}
    return {key: value for key, value in env.items() if value is not None}


def cni_exec(plugin, command, container, config, netns="", timeout=60, **env):
    """Runs the plugin once with `config` (str or bytes) on stdin; stdout and stderr captured."""
    data = config.encode() if isinstance(config, str) else config
    return subprocess.run([plugin], input=data, env=cni_environment(command, container, netns, **env),
                          capture_output=True, timeout=timeout)


def cni_start(plugin, command, container, config, netns="", **env):
    """Starts the plugin with `config` written to its stdin, for a caller that waits or kills."""
    child = subprocess.Popen([plugin], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=cni_environment(command, container, netns, **env))
    child.stdin.write(config.encode() if isinstance(config, str) else config)
    child.stdin.close()
    return child


def attachment_names(network, container, ifname="eth0"):
    """The host veth, ifb and label podwire derives for an attachment (podwire-leases names)."""
    out = subprocess.run([LEASES, "names", network, container, ifname], capture_output=True, text=True, check=True)
    lines = out.stdout[:-1].split("\n")
    # A label may hold a newline of the container ID's or the ifname's: it is the rest.
    return lines[0], lines[1], "\n".join(lines[2:])
