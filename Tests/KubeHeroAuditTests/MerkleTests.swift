import Crypto
import KubeHeroAudit
import Testing

/// The tree against an independent, deliberately naive implementation of RFC 6962 §2.1
/// (plain recursion over arrays), and against published test vectors.
@Suite struct MerkleTests {
    // MARK: Naive reference

    static func sha(_ bytes: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: bytes)) }
    static func naiveLeaf(_ d: [UInt8]) -> [UInt8] { sha([0] + d) }
    static func naiveNode(_ l: [UInt8], _ r: [UInt8]) -> [UInt8] { sha([1] + l + r) }
    static func k(_ n: Int) -> Int { var k = 1; while k * 2 < n { k *= 2 }; return k }

    static func mth(_ d: ArraySlice<[UInt8]>) -> [UInt8] {
        if d.isEmpty { return sha([]) }
        if d.count == 1 { return naiveLeaf(d.first!) }
        let k = k(d.count)
        return naiveNode(mth(d.prefix(k)), mth(d.dropFirst(k)))
    }

    static func path(_ m: Int, _ d: ArraySlice<[UInt8]>) -> [[UInt8]] {
        if d.count <= 1 { return [] }
        let k = k(d.count)
        return m < k ? path(m, d.prefix(k)) + [mth(d.dropFirst(k))] : path(m - k, d.dropFirst(k)) + [mth(d.prefix(k))]
    }

    static func subproof(_ m: Int, _ d: ArraySlice<[UInt8]>, _ b: Bool) -> [[UInt8]] {
        if m == d.count { return b ? [] : [mth(d)] }
        let k = k(d.count)
        return m <= k ? subproof(m, d.prefix(k), b) + [mth(d.dropFirst(k))] : subproof(m - k, d.dropFirst(k), false) + [mth(d.prefix(k))]
    }

    static func data(_ n: Int) -> [[UInt8]] { (0..<n).map { Array("entry \($0)".utf8) } }
    static func h(_ b: [UInt8]) -> TreeHash { TreeHash(bytes: b)! }

    // MARK: Vectors

    @Test func rfc6962TestVectorRoots() {
        // The eight leaves and roots of certificate-transparency's merkle_tree_test vectors.
        let leaves: [String] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ]
        var tree = MerkleTree()
        #expect(tree.root.hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        for (i, hex) in leaves.enumerated() {
            let bytes = stride(from: 0, to: hex.count, by: 2).map { UInt8(hex.dropFirst($0).prefix(2), radix: 16)! }
            tree.append(Merkle.leafHash(bytes))
            #expect(tree.root.hex == roots[i], "root of size \(i + 1)")
        }
    }

    // MARK: Against the naive implementation

    @Test func rootsAndInclusionProofsForEverySizeUpTo300() {
        let d = Self.data(300)
        var tree = MerkleTree()
        for n in 1...300 {
            tree.append(Merkle.leafHash(d[n - 1]))
            let root = tree.root
            let naiveRoot = Self.mth(d[0..<n])
            #expect(root.bytes == naiveRoot, "root of size \(n)")
            // Every proof verifies against the naive root; the proofs themselves are compared
            // with the naive PATH for all indexes up to size 100 and a few indexes beyond (the
            // naive PATH costs O(n) hashes each).
            for m in 0..<n {
                let proof = tree.inclusionProof(index: UInt64(m), size: UInt64(n))
                #expect(Merkle.verifyInclusion(leaf: Merkle.leafHash(d[m]), index: UInt64(m), size: UInt64(n), proof: proof, root: Self.h(naiveRoot)))
                if n <= 100 || m == 0 || m == n - 1 || m % 61 == 0 {
                    #expect(proof.map(\.bytes) == Self.path(m, d[0..<n]), "PATH(\(m), \(n))")
                }
            }
        }
    }

    @Test func consistencyProofsForEveryPairUpTo100() {
        let d = Self.data(100)
        let tree = MerkleTree(leaves: d.map { Merkle.leafHash($0) })
        for n in 1...100 {
            let newRoot = Self.h(Self.mth(d[0..<n]))
            for m in 1...n {
                let proof = tree.consistencyProof(oldSize: UInt64(m), newSize: UInt64(n))
                let expected = m == n ? [] : Self.subproof(m, d[0..<n], true)
                #expect(proof.map(\.bytes) == expected, "PROOF(\(m), \(n))")
                #expect(Merkle.verifyConsistency(oldSize: UInt64(m), newSize: UInt64(n), oldRoot: Self.h(Self.mth(d[0..<m])), newRoot: newRoot, proof: proof), "verify \(m)->\(n)")
            }
        }
    }

    @Test func edgeCasesOfSizesZeroAndOneAndPowersOfTwo() {
        let d = Self.data(1025)
        let tree = MerkleTree(leaves: d.map { Merkle.leafHash($0) })
        #expect(tree.root(size: 0) == Merkle.emptyRoot)
        #expect(tree.root(size: 1) == Merkle.leafHash(d[0]))
        #expect(tree.inclusionProof(index: 0, size: 1).isEmpty)
        #expect(Merkle.verifyInclusion(leaf: tree.leaf(at: 0), index: 0, size: 1, proof: [], root: tree.root(size: 1)))
        #expect(Merkle.verifyConsistency(oldSize: 0, newSize: 5, oldRoot: Merkle.emptyRoot, newRoot: tree.root(size: 5), proof: []))
        for p in 0...10 {
            let n = UInt64(1) << UInt64(p)
            #expect(tree.root(size: n).bytes == Self.mth(d[0..<Int(n)]), "2^\(p)")
            for m in [n / 2, n - 1, n] where m > 0 {
                let proof = tree.consistencyProof(oldSize: m, newSize: n + 1)
                #expect(Merkle.verifyConsistency(oldSize: m, newSize: n + 1, oldRoot: tree.root(size: m), newRoot: tree.root(size: n + 1), proof: proof))
            }
            let last = n - 1
            #expect(Merkle.verifyInclusion(leaf: tree.leaf(at: last), index: last, size: n, proof: tree.inclusionProof(index: last, size: n), root: tree.root(size: n)))
        }
    }

    @Test func tamperedProofsAreRejected() {
        let tree = MerkleTree(leaves: Self.data(37).map { Merkle.leafHash($0) })
        let root = tree.root
        for m: UInt64 in [0, 5, 31, 36] {
            let proof = tree.inclusionProof(index: m, size: 37)
            #expect(!Merkle.verifyInclusion(leaf: tree.leaf(at: m), index: m + 1 < 37 ? m + 1 : m - 1, size: 37, proof: proof, root: root))
            #expect(!Merkle.verifyInclusion(leaf: tree.leaf(at: m), index: m, size: 37, proof: Array(proof.dropLast()), root: root))
            var flipped = proof
            flipped[0] = Merkle.nodeHash(flipped[0], flipped[0])
            #expect(!Merkle.verifyInclusion(leaf: tree.leaf(at: m), index: m, size: 37, proof: flipped, root: root))
            #expect(!Merkle.verifyInclusion(leaf: tree.leaf(at: m), index: m, size: 37, proof: proof, root: tree.root(size: 36)))
        }
        let proof = tree.consistencyProof(oldSize: 11, newSize: 37)
        #expect(!Merkle.verifyConsistency(oldSize: 11, newSize: 37, oldRoot: tree.root(size: 12), newRoot: root, proof: proof))
        #expect(!Merkle.verifyConsistency(oldSize: 11, newSize: 37, oldRoot: tree.root(size: 11), newRoot: tree.root(size: 36), proof: proof))
        #expect(!Merkle.verifyConsistency(oldSize: 11, newSize: 37, oldRoot: tree.root(size: 11), newRoot: root, proof: []))
        #expect(!Merkle.verifyConsistency(oldSize: 12, newSize: 37, oldRoot: tree.root(size: 12), newRoot: root, proof: proof))
        #expect(!Merkle.verifyConsistency(oldSize: 5, newSize: 5, oldRoot: tree.root(size: 5), newRoot: tree.root(size: 6), proof: []))
    }
}
