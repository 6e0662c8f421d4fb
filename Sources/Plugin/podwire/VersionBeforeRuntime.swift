#if canImport(Glibc)
import Glibc
#endif
import CNI
import Syscall

// VERSION is the call runtimes make most, and its answer depends on nothing. glibc runs
// `.init_array.00101` before every constructor without a priority, so this answers before
// the Swift runtime and the backtracer set themselves up: half of a VERSION's time went to
// them. Nothing of Swift is initialised yet, so it calls only what needs none of it:
// C, and Syscall.writeAll over a constant buffer.
@used @section(".init_array.00101")
let answerVersionBeforeRuntime: @convention(c) (Int32, Arguments, Arguments) -> Void = answerVersion

/// argv and envp, as the C runtime hands them to an `.init_array` function.
typealias Arguments = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?

private func answerVersion(_: Int32, _: Arguments, _: Arguments) {
    guard let command = getenv("CNI_COMMAND"), strcmp(command, "VERSION") == 0 else { return }
    let written: Bool = Dispatcher.versionInfo.withUTF8Buffer {
        (try? Syscall.writeAll(1, UnsafeRawBufferPointer($0))) != nil
    }
    _exit(written ? 0 : 1)
}
