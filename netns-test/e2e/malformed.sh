#!/usr/bin/env bash
# The malformed-input table (netns-test/e2e/malformed.py): over a hundred bad inputs through the
# real binary, each checked for its CNI error JSON and code, a non-zero exit, and a host
# left as it was. Ends with "malformed inputs: N tried, N behaved".
source "$(dirname "$0")/../lib/lib.sh"

section "malformed inputs"
NS=$(new_netns malformed)
BRIDGE=$(new_bridge_name m)
touch "$WORK/regular-file"
mkdir -p "$WORK/a-directory"
ln -s "$WORK/no-such-target" "$WORK/dangling"
python3 "$REPO/netns-test/e2e/malformed.py" --podwire "$PODWIRE" --netns "$(netns_name "$NS")" --bridge "$BRIDGE" \
  --subnet "$SUBNET_BASE.0/24" --data "$WORK/data/malformed" --work "$WORK" --cni-path "$CNI_PATH" \
  --counts "$WORK/counts"
status=$?
# The table's own counts, and the table itself as one more check: a script that died, or
# tried nothing, has failed, whatever it managed to count.
tried=0 behaved=0
read -r tried behaved < "$WORK/counts"
PASSED=$((PASSED + behaved))
FAILED=$((FAILED + tried - behaved))
expect "malformed.py ran to its end (exit $status) and tried its table ($tried cases)" test "$tried" -gt 100
finish
