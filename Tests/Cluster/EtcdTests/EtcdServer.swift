import Foundation

/// A real etcd for one test: its own data directory and ports on loopback, stopped and
/// removed when the test is done. Optionally with TLS and client certificates made by
/// openssl for it.
final class EtcdServer {
    let directory: URL
    let clientURL: String
    let process = Process()
    let tls: Certificates?

    struct Certificates {
        let ca: String, serverCertificate: String, serverKey: String, clientCertificate: String, clientKey: String
    }

    static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd") }

    init(tls useTLS: Bool = false) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("podwire-etcd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let clientPort = try Self.freePort(), peerPort = try Self.freePort()
        tls = useTLS ? try Self.makeCertificates(in: directory) : nil
        let scheme = useTLS ? "https" : "http"
        clientURL = "\(scheme)://127.0.0.1:\(clientPort)"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/etcd")
        var arguments = [
            "--name", "test", "--data-dir", directory.appendingPathComponent("data").path,
            "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
            "--listen-peer-urls", "http://127.0.0.1:\(peerPort)",
            "--initial-advertise-peer-urls", "http://127.0.0.1:\(peerPort)",
            "--initial-cluster", "test=http://127.0.0.1:\(peerPort)", "--log-level", "error",
        ]
        if let tls {
            arguments += ["--cert-file", tls.serverCertificate, "--key-file", tls.serverKey,
                          "--trusted-ca-file", tls.ca, "--client-cert-auth"]
        }
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: directory)
    }

    /// A loopback port nothing listens on now.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it. The
    /// server's is good for client authentication too: etcd's JSON gateway connects to its own
    /// gRPC port with it.
    static func makeCertificates(in directory: URL) throws -> Certificates {
        let path = { (name: String) in directory.appendingPathComponent(name).path }
        try run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                "-subj", "/CN=podwire-test-ca",
                "-keyout", path("ca.key"), "-out", path("ca.crt"))
        for (name, extensions) in [("server", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth"),
                                   ("client", "extendedKeyUsage=clientAuth")] {
            try extensions.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
            try run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=podwire-test-\(name)",
                    "-keyout", path("\(name).key"), "-out", path("\(name).csr"))
            try run("openssl", "x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.crt"),
                    "-CAkey", path("ca.key"),
                    "-CAcreateserial", "-days", "1", "-extfile", path("\(name).ext"), "-out", path("\(name).crt"))
        }
        return Certificates(ca: path("ca.crt"), serverCertificate: path("server.crt"), serverKey: path("server.key"),
                            clientCertificate: path("client.crt"), clientKey: path("client.key"))
    }

    static func run(_ arguments: String...) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw POSIXError(.EIO) }
    }
}
