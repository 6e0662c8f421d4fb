// The pod's infra process. It holds the pod's namespaces open for as long as it lives and
// does nothing else: it sleeps in pause(), leaves on SIGINT or SIGTERM with status 0, and
// reaps every child that exits, which matters when it is PID 1 of the pod's PID namespace
// and orphans are re-parented to it.
//
// Built as Embedded Swift: no Swift runtime, no Foundation, a static binary that runs from
// an otherwise empty rootfs.
import CPause
import CVersion

/// Writes bytes to a descriptor with nothing but write(2), which is async-signal-safe.
func say(_ fd: Int32, _ text: StaticString) {
    _ = write(fd, text.utf8Start, text.utf8CodeUnitCount)
}

func shutDown(_ signal: Int32) {
    say(2, signal == SIGINT ? "podwire-pause: shutting down on SIGINT\n" : "podwire-pause: shutting down on SIGTERM\n")
    _exit(0)
}

func reapChildren(_ signal: Int32) {
    // One SIGCHLD may stand for many exits, so reap until none is left; the handler must
    // not change errno under whatever it interrupted.
    let saved = __errno_location().pointee
    while waitpid(-1, nil, WNOHANG) > 0 {}
    __errno_location().pointee = saved
}

/// sigaction(2), wrapped once: a pause that cannot catch SIGTERM would ignore the runtime's
/// stop as PID 1, so failing here is fatal.
func handle(_ signal: Int32, with handler: @convention(c) (Int32) -> Void, flags: Int32 = SA_RESTART) {
    var action = sigaction()
    action.__sigaction_handler.sa_handler = handler
    action.sa_flags = flags
    sigemptyset(&action.sa_mask)
    if sigaction(signal, &action, nil) != 0 {
        say(2, "podwire-pause: sigaction failed\n")
        _exit(1)
    }
}

// Embedded Swift has no CommandLine, so the module's entry point is this C-convention
// function, which gets argv; Package.swift renames the compiler's own entry out of the way.
@_cdecl("podwire_pause_main")
func main(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    for index in 1..<Int(max(argc, 1)) {
        guard let argument = argv[index] else { continue }
        if strcmp(argument, "-v") == 0 || strcmp(argument, "--version") == 0 {
            say(1, "podwire-pause ")
            withUnsafeBytes(of: podwire_version) { _ = write(1, $0.baseAddress, strlen($0.baseAddress!)) }
            say(1, "\n")
            return 0
        }
    }
    if getpid() != 1 {
        say(2, "podwire-pause: not PID 1 of its PID namespace, so orphans there are not re-parented to it\n")
    }
    handle(SIGINT, with: shutDown)
    handle(SIGTERM, with: shutDown)
    handle(SIGCHLD, with: reapChildren, flags: SA_RESTART | SA_NOCLDSTOP)
    while true { pause() }
}
