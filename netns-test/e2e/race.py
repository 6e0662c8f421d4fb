#!/usr/bin/env python3
"""race.py PLUGIN CONFIG_FILE...: starts one exec of PLUGIN (a CNI ADD) per config, each
with its own container ID, all waiting on stdin; then hands every one its config at once, so
that their calls overlap as much as two cores let them. Prints how many exited 0.

CNI_NETNS and CNI_PATH are the caller's; CNI_CONTAINERID is race-<RUN>-<n>, RUN from the
environment variable RACE_ID."""
import os, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from podwire import cni_environment

plugin, configs = sys.argv[1], sys.argv[2:]
children = []
for n, path in enumerate(configs):
    env = cni_environment("ADD", f"race-{os.environ['RACE_ID']}-{n}", os.environ["CNI_NETNS"])
    children.append((subprocess.Popen([plugin], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, env=env), open(path, "rb").read()))
# Every config is written before any stdin closes: the plugins all start reading at once.
for child, config in children:
    child.stdin.write(config)
for child, _ in children:
    child.stdin.close()
print(sum(1 for child, _ in children if child.wait() == 0))
