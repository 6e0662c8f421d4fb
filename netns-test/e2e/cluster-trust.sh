#!/usr/bin/env bash
# What podwire-node reads is a claim, checked before it is believed, and nothing it reads
# stops it: hostile and broken records put into a real etcd beside a running cluster (four
# nodes in namespaces, three etcd members), one peer the kernel refuses, bad configs and
# flags, a second daemon with a taken name, and an etcd member paused (SIGSTOP) while a node
# is removed through another: the bound on a stale view, measured.
source "$(dirname "$0")/../lib/lib.sh"
source "$(dirname "$0")/../lib/cluster.sh"

cluster_underlay "1 2 3" "4"
cluster_etcd 1 2 3
cluster_config '{"network4":"10.244.0.0/16","network6":"fd44::/48"}' || fail "set the cluster config"
for n in 1 2 3 4; do start_daemon "$n"; done
for n in 1 2 3 4; do wait_for_conflist "$n" || fail "node $n wrote no conflist"; done
expect "four nodes route to each other (3 routes per family on each)" eventually 15 holds_routes 3 1 2 3 4
for n in 1 2 3 4; do add_pod "$n" || fail "ADD the pod of node $n"; done

put() { etcdctl_n put "$1" "$2" >/dev/null; }
del() { etcdctl_n del "$1" >/dev/null; }
record() { # record NAME ADDRESS MAC SUBNET...: a node record as JSON
  local subnets; subnets=$(printf '"%s",' "${@:4}")
  echo "{\"name\":\"$1\",\"addresses\":[\"$2\"],\"vtepMAC\":\"$3\",\"subnets\":[${subnets%,}]}"
}
subnet_key() { echo "/podwire/subnets/$(tr ':/' '_-' <<< "$1")"; }
daemons_alive() {
  for n in "$@"; do kill -0 "$(cat "$WORK/daemon$n.pid")" || { echo "daemon $n died"; return 1; }; done
}
nodes_out() { node 1 nodes 2>&1; }
metric() { status_page "$1" /metrics | awk -v m="$2" '$1 == m {print int($2)}'; }
reaches() { in_ns "pod$1" ping -c 1 -W 1 "${POD4[$2]}" >/dev/null; }  # reaches FROM TO: pod to pod, IPv4
all_reach() { for to in 2 3 4; do reaches 1 "$to" || { echo "pod1 -> pod$to fails"; return 1; }; done; }
sub2=$(subnet4 2)
holds_routes_v4() { is "$(podwire_routes "$2" | wc -l)" "$1"; }  # holds_routes_v4 N NODE

section "a record is a claim: a default route with a neighbour's address"
# Nodes 1 and 3 get their default route as DHCP gives it, at metric 100.
for n in 1 3; do
  in_ns "n$n" ip route del default
  in_ns "n$n" ip route add default via 192.168.10.254 metric 100
done
put /podwire/nodes/evil1 "$(record evil1 "${UNDERLAY4[2]}" 02:aa:00:00:00:01 0.0.0.0/0)"
expect "nodes names the record and the reason" \
  eventually 5 says '^evil1  rejected: subnet: 0\.0\.0\.0/0 is not inside' nodes_out
no_default() { ! podwire_routes "$1" | grep -q '^default'; }
expect "  no node takes a proto-112 default route from it" eventually 2 no_default 1
refute "  node 1 has none" has_route 1 '^default'
refute "  node 3 has none" has_route 3 '^default'
expect "  node 3's traffic to the outside still goes through its own router" \
  says 'via 192\.168\.10\.254' ip -n "pw$RUN_ID-n3" route get 198.18.0.2

section "addresses that are not a node's"
put /podwire/nodes/evil2 "$(record evil2 192.168.10.77 02:aa:00:00:00:02 169.254.169.254/32)"
expect "the metadata address as a subnet is rejected" eventually 5 says '^evil2  rejected: subnet' nodes_out
refute "  and not routed" has_route 1 '169\.254'
put "$(subnet_key 10.244.77.0/24)" evil3
put /podwire/nodes/evil3 "$(record evil3 224.0.0.1 02:aa:00:00:00:03 10.244.77.0/24)"
expect "a multicast underlay address is rejected" eventually 5 says '^evil3  rejected: address' nodes_out
put "$(subnet_key 10.244.78.0/24)" evil4
put /podwire/nodes/evil4 "$(record evil4 "${UNDERLAY4[1]}" 02:aa:00:00:00:04 10.244.78.0/24)"
expect "node 1 rejects a peer claiming node 1's own address, with the reason on /healthz" \
  eventually 5 says 'rejected record evil4: address: .* this node.s own address' status_page 1 /healthz
refute "  and routes nothing of it" has_route 1 '10\.244\.78\.'

section "a claim on a subnet another node holds"
put /podwire/nodes/thief "$(record thief 192.168.10.66 02:aa:00:00:00:05 "$sub2")"
expect "nodes says the subnet is held by node2" \
  eventually 5 says "^thief  rejected: holder: ${sub2//./\\.} is held by node2" nodes_out
del /podwire/nodes/thief
sleep 1
expect "deleting the thief's record leaves node2's route on node 1" has_route 1 "^${sub2//./\\.} via ${UNDERLAY4[2]}"
expect "  and pod 1 still reaches every pod" all_reach

section "a record under another node's name"
put /podwire/nodes/zz "$(etcdctl_n get --print-value-only /podwire/nodes/node2)"
expect "nodes/zz holding node2's record is rejected as a name mismatch" \
  eventually 5 says '^zz  rejected: name_mismatch' nodes_out
del /podwire/nodes/zz
sleep 1
expect "deleting it leaves node2's route in place" has_route 1 "^${sub2//./\\.} via ${UNDERLAY4[2]}"

section "MACs"
put "$(subnet_key 10.244.80.0/24)" zeromac
put /podwire/nodes/zeromac "$(record zeromac 192.168.20.80 00:00:00:00:00:00 10.244.80.0/24)"
expect "an all-zero VTEP MAC is rejected" eventually 5 says '^zeromac  rejected: mac: .* all zeros' nodes_out
refute "  and no forwarding entry for it is on node 1's VXLAN device" \
  says '00:00:00:00:00:00' in_ns n1 bridge fdb show dev podwire.vx
mac4=$(etcdctl_n get --print-value-only /podwire/nodes/node4 | jq -r .vtepMAC)
put "$(subnet_key 10.244.81.0/24)" copycat
put /podwire/nodes/copycat "$(record copycat 192.168.20.81 "$mac4" 10.244.81.0/24)"
expect "a MAC copied from node4 is rejected; node4 keeps it" \
  eventually 5 says "^copycat  rejected: mac: .* node4" nodes_out
expect "  node 1 still reaches node 4's pod over VXLAN" reaches 1 4

section "bounds and corrupt records"
many=$(python3 -c 'print(",".join("\"10.244.%d.%d/32\"" % (200 + i // 256, i % 256) for i in range(1000)))')
put /podwire/nodes/huge "{\"name\":\"huge\",\"addresses\":[],\"vtepMAC\":\"02:aa:00:00:00:06\",\"subnets\":[$many]}"
expect "a record with 1000 subnets is rejected as unreadable" \
  eventually 5 says '^huge  rejected: unreadable: .*bytes' nodes_out
put /podwire/nodes/broken "this is not JSON"
expect "a record that does not parse is named, with the parser's reason" \
  eventually 5 says '^broken  rejected: unreadable' nodes_out
expect "  and counted on /metrics by reason" eventually 5 \
  says 'podwire_records_rejected_total\{reason="unreadable"\} [1-9]' status_page 1 /metrics
expect "every daemon is still running" daemons_alive 1 2 3 4
expect "every node still routes to the 3 real peers" eventually 5 holds_routes 3 1 2 3 4
expect "pod 1 reaches every pod" all_reach

section "removal frees every key naming the node"
put "$(subnet_key 10.244.90.0/24)" broken
expect "remove of a node whose record is corrupt succeeds" node 1 remove broken
is_absent() { [[ -z $(etcdctl_n get "$1") ]]; }
expect "  and frees its subnet key" is_absent "$(subnet_key 10.244.90.0/24)"
del /podwire/nodes/zeromac
expect "a record deleted with etcdctl leaves its subnet key, which nodes shows as an orphan" \
  says '^orphan subnet key 10\.244\.80\.0/24: held by zeromac' nodes_out
expect "  and remove frees it" node 1 remove zeromac
expect "  then it is gone" is_absent "$(subnet_key 10.244.80.0/24)"

section "a daemon whose own record is corrupted"
put /podwire/nodes/node3 "garbage"
own_ok() { etcdctl_n get --print-value-only /podwire/nodes/node3 | jq -e '.name == "node3"' >/dev/null; }
expect "node 3's daemon writes its record back within 5 s" eventually 5 own_ok
expect "  and keeps running" daemons_alive 3
expect "  /metrics counts the repair" eventually 3 says 'podwire_own_record_repairs_total [1-9]' status_page 3 /metrics

section "one bad peer is one bad peer"
# A peer whose subnet the kernel refuses on node 1: node 1 has a connected route there.
in_ns n1 ip link add "dm$RUN_ID" type bridge
in_ns n1 ip addr add 10.244.60.1/24 dev "dm$RUN_ID"
in_ns n1 ip link set "dm$RUN_ID" up
put "$(subnet_key 10.244.60.0/24)" clash
put /podwire/nodes/clash "$(record clash 192.168.10.60 02:aa:00:00:00:07 10.244.60.0/24)"
expect "node 1's /healthz stays 200 and names the degraded peer with the kernel's words" \
  eventually 5 says 'degraded peer clash: add route 10\.244\.60\.0/24: .*(exists|EEXIST)' status_page 1 /healthz
expect "  status shows it too" says 'degraded peer clash' node 1 status --name node1
expect "  kernel refusals are counted" says 'podwire_kernel_refusals_total [1-9]' status_page 1 /metrics
in_ns n1 ip link set eth0 down; sleep 0.5; in_ns n1 ip link set eth0 up
# The underlay's IPv6 address and default routes are the test's own, made by hand (a link
# going down takes them): put back, as a node's network manager would.
in_ns n1 ip addr add fd10::1/64 dev eth0 nodad 2>/dev/null
in_ns n1 ip route replace default via 192.168.10.254
in_ns n1 ip -6 route replace default via fd10::254
expect "after a link flap every real peer's routes come back (peers that sort after it too)" \
  eventually 10 has_route 1 "^${sub2//./\\.} via"
expect "  pod 1 reaches every pod" eventually 10 all_reach
in_ns n1 ip link del "dm$RUN_ID"
for key in /podwire/nodes/clash "$(subnet_key 10.244.60.0/24)"; do del "$key"; done

section "a burst of 100 changes costs a few passes"
burst() { # burst put|delete: 100 peers join (a record and its subnet key, one transaction each) or go
  in_ns n1 python3 - "http://${UNDERLAY4[1]}:2379" "$1" <<'EOF'
import base64, json, sys, urllib.request
b64 = lambda text: base64.b64encode(text.encode()).decode()
for i in range(100):
    name, subnet = f"burst{i}", f"10.244.{100 + i}.0/24"
    record = json.dumps({"name": name, "addresses": [f"192.168.10.{100 + i}"], "vtepMAC": "02:bb:00:00:00:%02x" % i,
                         "subnets": [subnet]})
    keys = {f"/podwire/nodes/{name}": record, "/podwire/subnets/" + subnet.replace("/", "-"): name}
    ops = [{"request_put": {"key": b64(k), "value": b64(v)}} if sys.argv[2] == "put"
           else {"request_delete_range": {"key": b64(k)}} for k, v in keys.items()]
    urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/v3/kv/txn", json.dumps({"success": ops}).encode()),
                           timeout=5).read()
EOF
}
before=$(metric 1 podwire_reconcile_runs_total)
burst put
expect "100 peers joining in 100 transactions: node 1 routes to all of them" eventually 10 holds_routes_v4 103 1
after=$(metric 1 podwire_reconcile_runs_total)
echo "        100 watch events: $((after - before)) passes on node 1"
expect "  in at most 10 passes" at_least 10 $((after - before))
burst delete
expect "  and all of them gone: their routes too" eventually 10 holds_routes_v4 3 1

section "configs and flags"
refute "config refuses a subnet length that would invalidate registered subnets" \
  node 1 config --json '{"network4":"10.244.0.0/16","network6":"fd44::/48","subnetLength4":26}'
expect "  naming the nodes and how to proceed" says 'node node1: .* is not a /26' \
  node 1 config --json '{"network4":"10.244.0.0/16","network6":"fd44::/48","subnetLength4":26}'
expect "a misspelt key is an error naming it" says 'unknown key "subnetlength4"' \
  node 1 config --json '{"network4":"10.244.0.0/16","subnetlength4":24}'
expect "0.0.0.0/0 is not a cluster network" says 'overlaps 0\.0\.0\.0/8' node 1 config --json '{"network4":"0.0.0.0/0"}'
expect "\"vni\": 1e300 is a range error, not a trap" says 'vni must be a whole number' \
  node 1 config --json '{"network4":"10.244.0.0/16","vni":1e300}'
good_config=$(etcdctl_n get --print-value-only /podwire/config)
put /podwire/config '{"network4":"10.244.0.0/16","vni":1e300}'
expect "the same value put with etcdctl: a daemon starting says so and exits 1, no crash" \
  exits 1 in_ns n4 timeout 10 "$NODE_BIN" run --name node9 --underlay eth0 --endpoints "$ENDPOINTS" \
  --status-address 127.0.0.1:9759
put /podwire/config "$good_config"
expect "--cert without --key is refused, naming the path" says '--cert /etc/hostname needs --key' \
  node 1 nodes --cert /etc/hostname
expect "--cacert with http:// URLs is refused" says '--cacert is given but the etcd endpoints are http' \
  node 1 nodes --cacert /etc/hostname
expect "a mixed http/https list is refused" says 'mix http:// and https://' \
  in_ns n1 "$NODE_BIN" nodes --endpoints "http://127.0.0.1:2379,https://127.0.0.1:2379"
expect "a CA file that is not there is named" says '--cacert /nonexistent/ca.pem: No such file' \
  in_ns n1 "$NODE_BIN" nodes --endpoints https://127.0.0.1:2379 --cacert /nonexistent/ca.pem
expect "--resync 0 is refused" says 'resync must be at least 1' \
  in_ns n1 "$NODE_BIN" run --name node1 --underlay eth0 --resync 0

section "one name, one daemon"
expect "a second daemon named node2 on node 4 refuses to start, naming the first one's addresses" \
  says "held by a live daemon at ${UNDERLAY4[2]//./\\.}" in_ns n4 timeout 10 "$NODE_BIN" run --name node2 \
  --underlay eth0 --endpoints "$ENDPOINTS" --status-address 127.0.0.1:9758
expect "  node2's record still has node 2's address" \
  says "\"${UNDERLAY4[2]//./\\.}\"" etcdctl_n get --print-value-only /podwire/nodes/node2

section "a member that stops answering"
# The hostile records go first: with node 4 gone, copycat's MAC would be its own.
for name in evil1 evil2 evil3 evil4 copycat huge; do node 1 remove "$name" >/dev/null 2>&1; done
sub4=$(subnet4 4)
# The member node 1's daemon watches through (podwire-node spreads nodes over the members by
# a hash of their names) is paused; node 4 is removed through another member.
first=$(python3 -c '
import sys
h = 0xcbf29ce484222325
for b in sys.argv[1].encode(): h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
print(h % 3 + 1)' node1)
other=$((first % 3 + 1))
echo "        node 1 watches through e$first; the removal goes through e$other"
kill -STOP "$(cat "$WORK/etcd$first.pid")"
start=$(date +%s%N)
expect "node 4 removed through member e$other" \
  in_ns "n$other" "$NODE_BIN" remove node4 --endpoints "http://${UNDERLAY4[$other]}:2379"
lacks4() { for n in 1 2 3; do has_route "$n" "^${sub4//./\\.} " >/dev/null && return 1; done; return 0; }
eventually 30 lacks4
stale_ms=$((($(date +%s%N) - start) / 1000000))
for n in 1 2 3; do
  has_route "$n" "^${sub4//./\\.} " >/dev/null || continue
  echo "        node $n still routes to node 4; its log:"; tail -15 "$WORK/daemon$n.log" | sed 's/^/          /'
done
kill -CONT "$(cat "$WORK/etcd$first.pid")"
echo "        staleness with a paused member: every node dropped node 4's routes after $stale_ms ms"
expect "every other node dropped node 4's routes within 10 s ($stale_ms ms)" at_least 10000 "$stale_ms"
expect "  node 1 counted a stalled watch" eventually 5 says 'podwire_watch_stalls_total [1-9]' status_page 1 /metrics

finish
