@testable import KubeHeroPKI
import Testing

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("10.1.2.3", [10, 1, 2, 3]),
        ("::", [UInt8](repeating: 0, count: 16)),
        ("::1", [UInt8](repeating: 0, count: 15) + [1]),
        ("fe80::", [0xfe, 0x80] + [UInt8](repeating: 0, count: 14)),
        ("1:2:3:4:5:6:7:8", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]),
        ("::ffff:192.0.2.1", [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 192, 0, 2, 1]),
        ("1:2:3:4:5:6:7::", [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0]),
    ] as [(String, [UInt8])])
    func parsesAddresses(text: String, bytes: [UInt8]) {
        #expect(IPAddress.bytes(text) == bytes)
    }

    @Test(arguments: [
        "", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", "hub",
        ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8::", "12345::",
        "fe80::1%eth0", "[::1]", "1.2.3.4::", "g::1",
    ])
    func refusesNonAddresses(text: String) {
        #expect(IPAddress.bytes(text) == nil)
    }
}
