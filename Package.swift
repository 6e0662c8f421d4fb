// swift-tools-version:6.1
import PackageDescription

// The sources are grouped by subsystem (see the README's Layout):
//   Sources/Shared   the bottom every part stands on: addresses, JSON, syscalls, the version
//   Sources/Kernel   the netlink core and what speaks through it; namespaces and sysctls
//   Sources/Plugin   the CNI plugin: the protocol, IPAM, the firewall, the plugins, `podwire`
//   Sources/Cluster  the cluster: its model, the etcd client, the node agent, `podwire-node`
//   Sources/Tools    the pause program, the lease view, the fuzzer

func shared(_ name: String, _ dependencies: [Target.Dependency] = []) -> Target {
    .target(name: name, dependencies: dependencies, path: "Sources/Shared/\(name)")
}

func kernel(_ name: String, _ dependencies: [Target.Dependency] = []) -> Target {
    .target(name: name, dependencies: dependencies, path: "Sources/Kernel/\(name)")
}

func plugin(_ name: String, _ dependencies: [Target.Dependency] = []) -> Target {
    .target(name: name, dependencies: dependencies, path: "Sources/Plugin/\(name)")
}

func tests(_ group: String, _ name: String, _ dependencies: [Target.Dependency],
           exclude: [String] = []) -> Target {
    .testTarget(name: name, dependencies: dependencies, path: "Tests/\(group)/\(name)", exclude: exclude)
}

let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")

let package = Package(
    name: "podwire",
    products: [
        .executable(name: "podwire", targets: ["podwire"]),
        .executable(name: "podwire-leases", targets: ["podwire-leases"]),
        .executable(name: "podwire-pause", targets: ["podwire-pause"]),
        .executable(name: "podwire-node", targets: ["podwire-node"]),
    ],
    dependencies: [
        // The human-facing commands (podwire-leases, podwire-node); the plugin binary stays free of it.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The call log's API (podwire's own handler writes the file) and the node daemon's log.
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        // The node agent's etcd client: etcd's v3 JSON gateway over HTTP/1.1, with TLS.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // The node daemon's start, graceful shutdown and signals.
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // The node daemon's figures, on /metrics in Prometheus' format.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Keys and values travel base64-encoded through etcd's JSON gateway.
        .package(url: "https://github.com/swift-extras/swift-extras-base64", from: "1.2.0"),
    ],
    targets: [
        // MARK: Shared

        // IP and MAC addresses, prefixes.
        shared("Addressing"),
        // Every system call podwire makes, wrapped once with a typed error; CLinux: glibc's declarations.
        .systemLibrary(name: "CLinux", path: "Sources/Shared/CLinux"),
        shared("Syscall", ["CLinux"]),
        // JSON read into a tree and written with sorted keys: small, and no Foundation.
        shared("JSON"),
        // The version string, once, for the plugin, the daemon and the pause program alike.
        .systemLibrary(name: "CVersion", path: "Sources/Shared/CVersion"),
        // What podwire names after an attachment or a node (host veths, ifbs, labels, VTEP MACs), and the
        // version: derived once, for the plugin, the daemon and the tools alike.
        shared("Identity", ["Addressing", "CVersion"]),

        // MARK: Kernel

        // The kernel's netlink headers: declarations only, nothing linked.
        .systemLibrary(name: "CNetlink", path: "Sources/Kernel/CNetlink"),
        // The netlink core: messages, sockets, replies, batches, errors. Every request goes through it.
        kernel("Netlink", ["CNetlink", "Syscall"]),
        // Route netlink: links, veths, bridges, bridge ports, addresses, routes, neighbours, tc.
        kernel("RouteNetlink", ["Netlink", "CNetlink", "Addressing", "Namespaces"]),
        // nf_tables: tables, chains, sets, elements and rule expressions, sent as batches.
        kernel("NetfilterNetlink", ["Netlink", "CNetlink"]),
        // Network namespaces and their sysctls.
        kernel("Namespaces", ["Syscall"]),

        // MARK: Plugin

        // The CNI protocol: config, results in every version, errors, env. No kernel code.
        plugin("CNI", ["Addressing", "Syscall", "JSON", "Identity"]),
        // One log line per call, when the network config asks for it.
        plugin("CallLog", ["CNI", "Syscall", logging]),
        // The host-local store, byte-compatible with the reference plugin.
        plugin("IPAM", ["CNI", "Addressing", "Syscall", "Identity"]),
        // podwire's nftables tables: masquerade, port mappings and the spoof check as set elements per pod.
        plugin("Firewall", ["NetfilterNetlink", "Netlink", "Addressing", "Identity", "Syscall"]),
        // What an attachment put on the node (bridge port, gateways, firewall entries), kept in its
        // index entry for the node's daemon to put back.
        plugin("AttachmentRecord", ["Firewall", "Addressing", "Identity", "JSON"]),
        // The plugins: bridge mode (a plan, then steps with undo), podwire-ipam and podwire-portmap.
        plugin("Plugins", [
            "CNI", "IPAM", "Netlink", "RouteNetlink", "Namespaces", "Firewall", "AttachmentRecord", "Addressing",
            "Syscall", "Identity",
        ]),
        // The `podwire` executable: one of the plugins by the name it is called by.
        .executableTarget(name: "podwire", dependencies: ["Plugins", "CNI", "CallLog"],
                          path: "Sources/Plugin/podwire"),

        // MARK: Cluster

        // The cluster's state: its config, node records, keys, subnet allocation. No I/O.
        .target(name: "ClusterModel", dependencies: ["Addressing", "JSON", "Identity"], path: "Sources/Cluster/Model"),
        // What etcd's v3 JSON gateway writes, read: values, watch events, errors. No I/O.
        .target(name: "EtcdWire", dependencies: [
            "JSON", .product(name: "ExtrasBase64", package: "swift-extras-base64"),
        ], path: "Sources/Cluster/EtcdWire"),
        // etcd v3 through its JSON gateway: keys, transactions, leases, watches, endpoints, TLS.
        .target(name: "Etcd", dependencies: [
            "JSON", "EtcdWire", .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "ExtrasBase64", package: "swift-extras-base64"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], path: "Sources/Cluster/Etcd"),
        // The `bgp` backend's routing daemon: BIRD's config made, checked and loaded; its sessions read.
        .target(name: "BGP", dependencies: ["ClusterModel", "Addressing", "Syscall"], path: "Sources/Cluster/BGP"),
        // The node agent: what the kernel should hold for the cluster, and making it so.
        .target(name: "NodeAgent", dependencies: [
            "ClusterModel", "BGP", "Etcd", "Netlink", "RouteNetlink", "NetfilterNetlink", "Namespaces", "Addressing",
            "JSON",
            "Syscall", "Identity", "IPAM", "Firewall", "AttachmentRecord", logging,
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], path: "Sources/Cluster/NodeAgent"),
        .executableTarget(name: "podwire-node", dependencies: [
            "NodeAgent", "ClusterModel", "Etcd", "RouteNetlink", "Addressing", "Identity", argumentParser, logging,
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ], path: "Sources/Cluster/podwire-node",
        // Relative relocations packed (DT_RELR, glibc 2.36): the loader's part of a joining
        // daemon's start, measured in docs/performance.md.
        linkerSettings: [.unsafeFlags(["-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs"])]),

        // MARK: Tools

        .executableTarget(name: "podwire-leases", dependencies: ["IPAM", "CNI", "Identity", "JSON", "Syscall",
                                                                argumentParser],
                          path: "Sources/Tools/podwire-leases"),
        // Every parser of outside input under libFuzzer (scripts/fuzz.sh), or replaying inputs:
        // the corpus and every input the fuzzer found, as a regression test. lld links it,
        // because gold fails on the sanitizers' objects.
        .executableTarget(name: "podwire-fuzz", dependencies: ["Plugins", "CNI", "IPAM", "Addressing", "Syscall",
                                                               "ClusterModel", "EtcdWire", "JSON", "BGP"],
                          path: "Sources/Tools/fuzz",
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])],
                          linkerSettings: [.unsafeFlags(["-use-ld=lld"])]),
        // The pod's pause program: Embedded Swift, so the static binary carries no Swift runtime.
        .systemLibrary(name: "CPause", path: "Sources/Tools/CPause"),
        .executableTarget(name: "podwire-pause", dependencies: ["CPause", "CVersion"], path: "Sources/Tools/pause",
                          swiftSettings: [.enableExperimentalFeature("Embedded"), .unsafeFlags([
                              "-wmo", "-Xfrontend", "-entry-point-function-name", "-Xfrontend", "podwire_pause_unused",
                          ])],
                          linkerSettings: [.unsafeFlags(["-Xclang-linker", "-static"]),
                                           .unsafeFlags(["-Xlinker", "-s"], .when(configuration: .release))]),

        // MARK: Tests

        tests("Shared", "AddressingTests", ["Addressing"]),
        tests("Shared", "JSONTests", ["JSON"]),
        tests("Shared", "IdentityTests", ["Identity", "Addressing"]),
        // Golden bytes against ip/nft captures (no root), and requests in throwaway namespaces (root).
        tests("Kernel", "NetlinkTests", [
            "Netlink", "RouteNetlink", "NetfilterNetlink", "Firewall", "NodeAgent", "Namespaces", "Addressing",
            "CNetlink", "Syscall", "IPAM", "AttachmentRecord", "Identity",
        ], exclude: ["References"]),
        tests("Plugin", "CNITests", ["CNI"]),
        tests("Plugin", "CallLogTests", ["CallLog", "CNI", "Addressing", logging]),
        tests("Plugin", "IPAMTests", ["IPAM", "CNI", "Identity"]),
        tests("Plugin", "FirewallTests", ["Firewall", "NetfilterNetlink", "Addressing"]),
        tests("Plugin", "AttachmentRecordTests", ["AttachmentRecord", "Firewall", "Addressing", "Identity"]),
        tests("Plugin", "PluginsTests", ["Plugins", "CNI", "IPAM", "Firewall", "Addressing", "Identity"]),
        tests("Cluster", "ClusterTests", [
            "ClusterModel", "NodeAgent", "BGP", "Etcd", "RouteNetlink", "Addressing", "Identity", logging,
        ]),
        tests("Cluster", "EtcdTests", ["Etcd", "NodeAgent", "ClusterModel", "Addressing", "Identity"]),
    ]
)
