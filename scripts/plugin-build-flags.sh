# The `swift build` arguments of the plugin binary, shared by scripts/build.sh and
# netns-test/bench/order-file.sh so that the order file is made from the binary that ships.
# Source it with REPO set to the checkout.
#
# Static: it starts in well under a millisecond, with no dynamic loader and no libswiftCore
# relocation. It links no C library but glibc: netlink is podwire's own (Sources/Kernel/Netlink).
#
# lld lays the functions out in the order scripts/podwire.order gives (the ones a call runs,
# together; netns-test/bench/order-file.sh regenerates it): a call then touches about 120 pages
# instead of 170, and its resident set is 3.6 MB instead of 5.9 MB. lld warns of each symbol
# the file names that no longer exists; scripts/build.sh counts them.
#
# Generic types get their metadata through direct accessor calls, not by demangling a name
# at run time: each name cost a demangle and, for a type with requirements (a Dictionary's
# Hashable key), a scan of every protocol conformance in the binary. A quarter of an ADD's
# instructions went there.
plugin_build_flags=(
  -c release --product podwire
  -Xswiftc -static-executable -Xswiftc -use-ld=lld
  -Xswiftc -Xfrontend -Xswiftc -disable-concrete-type-metadata-mangled-name-accessors
  -Xlinker "--symbol-ordering-file=$REPO/scripts/podwire.order" -Xlinker --warn-symbol-ordering
)
