import Testing
@testable import Addressing

@Suite struct IPAddressTests {
    @Test func parsesAndPrintsBothFamiliesCanonically() {
        #expect(IPAddress("10.22.0.5")?.description == "10.22.0.5")
        #expect(IPAddress("fd00:0:0:0::0002")?.description == "fd00::2")
        #expect(IPAddress("10.22.0.5")?.family == .v4)
        #expect(IPAddress("::1")?.family == .v6)
    }

    @Test(arguments: ["", "10.0.0", "10.0.0.256", "01.2.3.4", "10.0.0.1 ", "fd00::g", "1.2.3.4/24", "::1%eth0"])
    func rejectsWhatIsNotAnAddress(_ text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func stepsWithinTheFamilyAndStopsAtTheEnds() {
        #expect(IPAddress("10.0.0.255")!.advanced(by: 1) == IPAddress("10.0.1.0"))
        #expect(IPAddress("10.0.1.0")!.advanced(by: -1) == IPAddress("10.0.0.255"))
        #expect(IPAddress("255.255.255.255")!.advanced(by: 1) == nil)
        #expect(IPAddress("0.0.0.0")!.advanced(by: -1) == nil)
        #expect(IPAddress("fd00::ffff")!.advanced(by: 1) == IPAddress("fd00::1:0"))
    }

    @Test func roundTripsThroughNetworkOrderBytes() {
        let address = IPAddress("192.168.1.2")!
        #expect(address.bytes == [192, 168, 1, 2])
        #expect(IPAddress(bytes: address.bytes) == address)
        #expect(IPAddress(bytes: [1, 2, 3]) == nil)
    }
}

@Suite struct IPNetworkTests {
    @Test func knowsItsBoundsAndMembers() {
        let net = IPNetwork("10.22.0.0/24")!
        #expect(net.first == IPAddress("10.22.0.0"))
        #expect(net.last == IPAddress("10.22.0.255"))
        #expect(net.contains(IPAddress("10.22.0.77")!))
        #expect(!net.contains(IPAddress("10.22.1.0")!))
        #expect(!net.contains(IPAddress("::1")!))
        #expect(net.isNetworkAddress)
        #expect(!IPNetwork("10.22.0.5/24")!.isNetworkAddress)
        #expect(IPNetwork("10.22.0.5/24")!.network.description == "10.22.0.0/24")
        #expect(IPNetwork("fd00::5/64")!.last == IPAddress("fd00::ffff:ffff:ffff:ffff"))
        #expect(IPNetwork("0.0.0.0/0")!.contains(IPAddress("8.8.8.8")!))
    }

    @Test(arguments: ["10.0.0.0", "10.0.0.0/33", "10.0.0.0/-1", "10.0.0.0/", "fd00::/129", "10.0.0.0/2a",
                      "10.0.0.0/24/1"])
    func rejectsMalformedPrefixes(_ text: String) {
        #expect(IPNetwork(text) == nil)
    }

    @Test func detectsOverlap() {
        #expect(IPNetwork("10.0.0.0/16")!.overlaps(IPNetwork("10.0.5.0/24")!))
        #expect(!IPNetwork("10.0.0.0/24")!.overlaps(IPNetwork("10.0.1.0/24")!))
        #expect(!IPNetwork("10.0.0.0/8")!.overlaps(IPNetwork("fd00::/8")!))
    }
}

@Suite struct HexTests {
    @Test func writesTwoLowercaseDigitsPerByte() {
        #expect([UInt8]([0x00, 0x0f, 0xa0, 0xff]).hexString() == "000fa0ff")
        #expect([UInt8]([0x0a, 0x58]).hexString(separator: UInt8(ascii: ":")) == "0a:58")
        #expect([UInt8]().hexString() == "")
    }

    @Test func readsBackEveryByteItWrites() {
        for byte in UInt8.min...UInt8.max {
            let digits = Array([byte].hexString().utf8)
            #expect(digits[0].hexDigitValue! << 4 | digits[1].hexDigitValue! == byte)
        }
        #expect(UInt8(ascii: "F").hexDigitValue == 15)
        #expect(UInt8(ascii: "g").hexDigitValue == nil)
        #expect(UInt8(ascii: "+").hexDigitValue == nil)
    }
}

@Suite struct MACAddressTests {
    @Test func parsesColonFormInEitherCase() {
        #expect(MACAddress("0A:58:0a:f4:00:01")?.description == "0a:58:0a:f4:00:01")
        #expect(MACAddress("0a:58:0a:f4:00") == nil)
        #expect(MACAddress("0a-58-0a-f4-00-01") == nil)
        #expect(MACAddress("01:00:5e:00:00:01")!.isMulticast)
    }
}
