// podwire-cnitool drives CNI plugins through libcni exactly as a runtime does: it loads a
// conflist by network name from NETCONFPATH, finds plugins in CNI_PATH, and runs ADD,
// CHECK or DEL on a network namespace. It behaves like the upstream cnitool.
//
//	podwire-cnitool add|check|del NETNAME NETNS_PATH
//
// Environment: NETCONFPATH (default /etc/cni/net.d), CNI_PATH, CNI_IFNAME (default eth0),
// CNI_CONTAINERID (default derived from the netns path, as cnitool does), CNI_ARGS
// (K=V;K=V), CAP_ARGS (JSON object of capability arguments), CNI_CACHEDIR.
package main

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/libcni"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintf(os.Stderr, "usage: %s add|check|del NETNAME NETNS_PATH\n", filepath.Base(os.Args[0]))
		os.Exit(2)
	}
	command, network, netns := os.Args[1], os.Args[2], os.Args[3]
	if err := run(command, network, netns); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(command, network, netns string) error {
	confDir := envOr("NETCONFPATH", "/etc/cni/net.d")
	list, err := libcni.LoadConfList(confDir, network)
	if err != nil {
		return fmt.Errorf("load network %q from %s: %w", network, confDir, err)
	}

	runtime := &libcni.RuntimeConf{
		ContainerID: os.Getenv("CNI_CONTAINERID"),
		NetNS:       netns,
		IfName:      envOr("CNI_IFNAME", "eth0"),
	}
	if runtime.ContainerID == "" {
		sum := sha512.Sum512([]byte(netns))
		runtime.ContainerID = fmt.Sprintf("cnitool-%x", sum[:10])
	}
	if args := os.Getenv("CNI_ARGS"); args != "" {
		for _, pair := range strings.Split(args, ";") {
			kv := strings.SplitN(pair, "=", 2)
			if len(kv) != 2 {
				return fmt.Errorf("CNI_ARGS: %q is not KEY=VALUE", pair)
			}
			runtime.Args = append(runtime.Args, [2]string{kv[0], kv[1]})
		}
	}
	if caps := os.Getenv("CAP_ARGS"); caps != "" {
		if err := json.Unmarshal([]byte(caps), &runtime.CapabilityArgs); err != nil {
			return fmt.Errorf("CAP_ARGS: %w", err)
		}
	}

	cni := libcni.NewCNIConfigWithCacheDir(filepath.SplitList(os.Getenv("CNI_PATH")), os.Getenv("CNI_CACHEDIR"), nil)
	ctx := context.Background()
	switch command {
	case "add":
		result, err := cni.AddNetworkList(ctx, list, runtime)
		if err != nil {
			return err
		}
		return result.Print()
	case "check":
		return cni.CheckNetworkList(ctx, list, runtime)
	case "del":
		return cni.DelNetworkList(ctx, list, runtime)
	default:
		return fmt.Errorf("unknown command %q: use add, check or del", command)
	}
}

func envOr(key, fallback string) string {
	if value := os.Getenv(key); value != "" {
		return value
	}
	return fallback
}
