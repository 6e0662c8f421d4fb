/// The undo steps of a half-done ADD, run newest first when a later step fails, so a
/// failure leaves exactly what was there before: no veth, no lease.
struct Rollback {
    private var steps: [() throws -> Void] = []

    mutating func add(_ undo: @escaping () throws -> Void) {
        steps.append(undo)
    }

    /// Best effort: one undo failing does not stop the others.
    func run() {
        for undo in steps.reversed() { try? undo() }
    }
}
