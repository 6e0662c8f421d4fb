// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "podwire",
    products: [
        .executable(name: "podwire", targets: ["podwire"]),
        .executable(name: "podwire-leases", targets: ["podwire-leases"]),
        .executable(name: "podwire-pause", targets: ["podwire-pause"]),
        .executable(name: "podwire-node", targets: ["podwire-node"]),
    ],
    dependencies: [
        // Only the human-facing lease view uses it; the plugin binary stays free of it.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // The call log's API; podwire's own handler writes the file.
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
    ],
    targets: [
        // IP addresses and prefixes: shared by the protocol, the store and the kernel layer.
        .target(name: "Addressing"),
        // Every system call podwire makes, wrapped once with a typed error.
        .systemLibrary(name: "CLinux"),
        .target(name: "Syscall", dependencies: ["CLinux"]),
        // JSON read into a tree and written with sorted keys: small, and no Foundation.
        .target(name: "JSON"),
        // The CNI protocol: config, results in every version, errors, env. No kernel code.
        .target(name: "CNI", dependencies: ["Addressing", "Syscall", "JSON"]),
        // The kernel's netlink headers: declarations only, nothing linked.
        .systemLibrary(name: "CNetlink"),
        // The netlink core: messages, sockets, replies, batches, errors. Every request goes through it.
        .target(name: "Netlink", dependencies: ["CNetlink", "Syscall"]),
        // Route netlink: links, veths, bridges, bridge ports, addresses, routes, neighbours, tc.
        .target(name: "RouteNetlink", dependencies: ["Netlink", "CNetlink", "Addressing", "Host"]),
        // nf_tables: tables, chains, sets, elements and rule expressions, sent as batches.
        .target(name: "NetfilterNetlink", dependencies: ["Netlink", "CNetlink"]),
        // The host's other knobs: network namespaces and sysctl.
        .target(name: "Host", dependencies: ["Syscall"]),
        // podwire's nftables tables: masquerade, port mappings and the spoof check as set elements per pod.
        .target(name: "Firewall", dependencies: ["NetfilterNetlink", "Netlink", "Addressing", "CNI", "Syscall"]),
        // The host-local store, byte-compatible with the reference plugin.
        .target(name: "IPAM", dependencies: ["CNI", "Addressing", "Syscall"]),
        // Bridge mode: turns a CNI call into a plan and carries it out.
        .target(name: "Podwire", dependencies: [
            "CNI", "IPAM", "Netlink", "RouteNetlink", "Host", "Firewall", "Addressing", "Syscall", "CVersion",
        ]),
        // One log line per call, when the network config asks for it.
        .target(name: "CallLog", dependencies: ["CNI", "Syscall", .product(name: "Logging", package: "swift-log")]),
        .executableTarget(name: "podwire", dependencies: ["Podwire", "CNI", "CallLog"], path: "Sources/plugin"),
        // The cluster's state: its config, node records, subnet allocation. No I/O.
        .target(name: "Cluster", dependencies: ["Addressing", "JSON"]),
        // etcd v3 through its JSON gateway: keys, transactions, leases, watches, endpoints, TLS.
        .target(name: "Etcd", dependencies: [
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // The node agent: what the kernel should hold for the cluster, and making it so.
        .target(name: "NodeAgent", dependencies: [
            "Cluster", "Etcd", "Netlink", "RouteNetlink", "NetfilterNetlink", "Addressing", "JSON", "Syscall",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        .executableTarget(name: "podwire-node", dependencies: [
            "NodeAgent", "Cluster", "Etcd", "RouteNetlink", "Addressing", "Podwire",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "podwire-leases", dependencies: [
            "Podwire", "IPAM", "CNI", "Syscall", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Every parser of outside input under libFuzzer (scripts/fuzz.sh), or replaying inputs:
        // the corpus and every input the fuzzer found, as a regression test. lld links it,
        // because gold fails on the sanitizers' objects.
        .executableTarget(name: "podwire-fuzz", dependencies: ["Podwire", "CNI", "IPAM", "Addressing", "Syscall"],
                          path: "Sources/fuzz",
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])],
                          linkerSettings: [.unsafeFlags(["-use-ld=lld"])]),
        // The pod's pause program: Embedded Swift, so the static binary carries no Swift runtime.
        .systemLibrary(name: "CPause"),
        // The version string, once, for the plugin and the pause program alike.
        .systemLibrary(name: "CVersion"),
        .executableTarget(name: "podwire-pause", dependencies: ["CPause", "CVersion"], path: "Sources/pause",
                          swiftSettings: [.enableExperimentalFeature("Embedded"), .unsafeFlags([
                              "-wmo", "-Xfrontend", "-entry-point-function-name", "-Xfrontend", "podwire_pause_unused",
                          ])],
                          linkerSettings: [.unsafeFlags(["-Xclang-linker", "-static"]),
                                           .unsafeFlags(["-Xlinker", "-s"], .when(configuration: .release))]),

        .testTarget(name: "AddressingTests", dependencies: ["Addressing"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "CNITests", dependencies: ["CNI"]),
        .testTarget(name: "CallLogTests", dependencies: [
            "CallLog", "CNI", "Addressing", .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "IPAMTests", dependencies: ["IPAM", "CNI"]),
        .testTarget(name: "PodwireTests", dependencies: ["Podwire", "CNI", "IPAM", "Firewall", "Addressing"]),
        .testTarget(name: "FirewallTests", dependencies: ["Firewall", "NetfilterNetlink", "Addressing"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "NodeAgent", "RouteNetlink", "Addressing"]),
        .testTarget(name: "EtcdTests", dependencies: ["Etcd", "NodeAgent", "Cluster", "Addressing"]),
        // Golden bytes against ip/nft captures (no root), and requests in throwaway namespaces (root).
        .testTarget(name: "NetlinkTests", dependencies: [
            "Netlink", "RouteNetlink", "NetfilterNetlink", "Firewall", "NodeAgent", "Host", "Addressing", "CNetlink",
            "Syscall",
        ], exclude: ["References"]),
    ]
)
