#!/usr/bin/env bash
# What linking libmnl would cost: Debian 12 ships libmnl only as a shared library, so a
# podwire that used it could not be static. This builds podwire dynamically linked, with
# libmnl loaded (--no-as-needed), and times VERSION, the call that is only process
# start-up, against the static build, interleaved, in one run.
#
#   netns-test/bench/startup-cost.sh            (RUNS=N for another count; default 400 each)
set -euo pipefail
cd "$(dirname "$0")/../.."
scratch=.build-dynamic
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift build -c release --product podwire --scratch-path "$scratch" \
  -Xlinker --no-as-needed -Xlinker -lmnl >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
dynamic=$scratch/release/podwire static=.build/release/podwire
[[ -x $static ]] || scripts/build.sh
ldd "$dynamic" | grep -q libmnl || { echo "the dynamic build does not load libmnl" >&2; exit 1; }
echo "dynamic build: $(ldd "$dynamic" | wc -l) shared objects, libmnl among them"
python3 - "$static" "$dynamic" "${RUNS:-400}" <<'PY'
import os, statistics, sys, time
sys.path.insert(0, "netns-test/lib")
from podwire import cni_environment
static, dynamic, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
env = cni_environment("VERSION", "")
config = b'{"cniVersion":"1.0.0"}'
times = {static: [], dynamic: []}
for i in range(runs):
    for binary in ((static, dynamic) if i % 2 else (dynamic, static)):
        read, write = os.pipe()
        os.write(write, config); os.close(write)
        null = os.open(os.devnull, os.O_WRONLY)
        start = time.perf_counter_ns()
        pid = os.posix_spawn(binary, [binary], env, file_actions=[
            (os.POSIX_SPAWN_DUP2, read, 0), (os.POSIX_SPAWN_DUP2, null, 1)])
        _, status = os.waitpid(pid, 0)
        times[binary].append((time.perf_counter_ns() - start) / 1e6)
        os.close(read); os.close(null)
        if status != 0: sys.exit(f"{binary} VERSION exited {status}")
s, d = statistics.median(times[static]), statistics.median(times[dynamic])
print(f"VERSION, median of {runs}: static {s:.2f} ms, dynamic with libmnl {d:.2f} ms, "
      f"{d - s:.2f} ms more per call ({d / s:.1f}x)")
PY
