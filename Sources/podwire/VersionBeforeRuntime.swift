#if canImport(Glibc)
import Glibc
#endif
import CNI

// VERSION is the call runtimes make most, and its answer depends on nothing. glibc runs
// `.init_array.00101` before every constructor without a priority, so this answers before
// the Swift runtime, libnl and the backtracer set themselves up: half of a VERSION's time
// went to them. It may only call C and read constants: nothing of Swift is initialised yet.
@used @section(".init_array.00101")
let answerVersionBeforeRuntime: @convention(c) (Int32, UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                                               UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Void = answerVersion

private func answerVersion(_: Int32, _: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                           _: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) {
    guard let command = getenv("CNI_COMMAND"), strcmp(command, "VERSION") == 0 else { return }
    let text = Dispatcher.versionInfo
    var written = 0
    while written < text.utf8CodeUnitCount {
        let count = write(1, text.utf8Start + written, text.utf8CodeUnitCount - written)
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { _exit(1) }
        written += count
    }
    _exit(0)
}
