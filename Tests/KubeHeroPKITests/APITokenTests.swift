import KubeHeroPKI
import Testing

@Suite struct APITokenTests {
    @Test func secretHasThePrefixTheIdAndFortyThreeBase64URLCharacters() {
        let token = APIToken.generate()
        #expect(token.id.count == 12)
        #expect(token.id.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(token.secret.hasPrefix("khp_\(token.id)_"))
        let random = token.secret.dropFirst("khp_".count + 12 + 1)
        #expect(random.count == 43)
        #expect(random.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
    }

    @Test func generatedTokensDiffer() {
        #expect(APIToken.generate().secret != APIToken.generate().secret)
    }

    @Test func hashIsStableLowercaseSHA256Hex() {
        // SHA-256("abc"), from FIPS 180-2.
        #expect(APIToken.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let secret = APIToken.generate().secret
        #expect(APIToken.hash(secret) == APIToken.hash(secret))
    }

    @Test func matchesComparesASecretWithItsStoredHash() {
        let token = APIToken.generate()
        #expect(APIToken.matches(token.secret, hash: APIToken.hash(token.secret)))
        #expect(!APIToken.matches(APIToken.generate().secret, hash: APIToken.hash(token.secret)))
    }

    @Test func idParsesFromAGeneratedSecret() {
        let token = APIToken.generate()
        #expect(APIToken.id(fromSecret: token.secret) == token.id)
    }

    @Test(arguments: [
        "",
        "khp_",
        "khp_0123456789ab",
        "xyz_0123456789ab_" + String(repeating: "A", count: 43),
        "khp_0123456789AB_" + String(repeating: "A", count: 43),
        "khp_0123456789ab-" + String(repeating: "A", count: 43),
        "khp_0123456789ab_" + String(repeating: "A", count: 42),
        "khp_0123456789ab_" + String(repeating: "A", count: 44),
        "khp_0123456789ab_" + String(repeating: "A", count: 42) + "=",
    ])
    func malformedSecretsHaveNoId(secret: String) {
        #expect(APIToken.id(fromSecret: secret) == nil)
    }

    @Test func idParsesFromAWellFormedSecret() {
        #expect(APIToken.id(fromSecret: "khp_0123456789ab_" + String(repeating: "_", count: 43)) == "0123456789ab")
    }
}
