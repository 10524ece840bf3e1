import Crypto

import Foundation

/// A SHA-256 value held inline (no heap allocation), so that a tree of millions of nodes is
/// one flat array.
public struct TreeHash: Hashable, Sendable, CustomStringConvertible {
    private var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0

    public static let byteCount = 32

    /// nil unless `bytes` holds exactly 32 bytes.
    public init?(bytes: some Collection<UInt8>) {
        guard bytes.count == 32 else { return nil }
        withUnsafeMutableBytes(of: &self) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
    }

    init(digest: SHA256.Digest) {
        withUnsafeMutableBytes(of: &self) { raw in
            digest.withUnsafeBytes { d in raw.copyMemory(from: d) }
        }
    }

    public var bytes: [UInt8] { withUnsafeBytes(of: self) { Array($0) } }

    public init?(hex: String) {
        let b = Array(hex.utf8)
        guard b.count == 64 else { return nil }
        var out = [UInt8](repeating: 0, count: 32)
        for i in 0..<32 {
            guard let hi = hexNibble(b[2 * i]), let lo = hexNibble(b[2 * i + 1]) else { return nil }
            out[i] = hi << 4 | lo
        }
        self.init(bytes: out)
    }

    /// Exactly 64 lowercase hex digits (what the log writes); nil for anything else.
    public init?(lowercaseHex hex: ArraySlice<UInt8>) {
        guard hex.count == 64 else { return nil }
        var out = TreeHash(digestBytes: ())
        let ok = withUnsafeMutableBytes(of: &out) { raw -> Bool in
            var i = hex.startIndex
            for k in 0..<32 {
                guard let hi = lowerNibble(hex[i]), let lo = lowerNibble(hex[i + 1]) else { return false }
                raw[k] = hi << 4 | lo
                i += 2
            }
            return true
        }
        guard ok else { return nil }
        self = out
    }

    private init(digestBytes: Void) {}

    public var hex: String { hexString(bytes) }
    public var base64: String { Data(bytes).base64EncodedString() }

    public init?(base64: String) {
        guard let d = Data(base64Encoded: base64) else { return nil }
        self.init(bytes: d)
    }
    public var description: String { hex }

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: self, body)
    }
}

/// RFC 6962 / RFC 9162 Merkle tree hashing.
public enum Merkle {
    /// MTH({}) = SHA-256 of nothing.
    public static let emptyRoot = TreeHash(digest: SHA256.hash(data: [UInt8]()))

    /// Leaf hash: SHA-256(0x00 || entry).
    public static func leafHash(_ entry: some ContiguousBytes) -> TreeHash {
        var h = SHA256()
        var prefix: UInt8 = 0
        withUnsafeBytes(of: &prefix) { h.update(bufferPointer: $0) }
        entry.withUnsafeBytes { h.update(bufferPointer: $0) }
        return TreeHash(digest: h.finalize())
    }

    /// Interior node: SHA-256(0x01 || left || right).
    public static func nodeHash(_ left: TreeHash, _ right: TreeHash) -> TreeHash {
        var h = SHA256()
        var prefix: UInt8 = 1
        withUnsafeBytes(of: &prefix) { h.update(bufferPointer: $0) }
        left.withBytes { h.update(bufferPointer: $0) }
        right.withBytes { h.update(bufferPointer: $0) }
        return TreeHash(digest: h.finalize())
    }

    /// The largest power of two strictly less than `n` (n > 1).
    static func split(_ n: UInt64) -> UInt64 {
        precondition(n > 1)
        return UInt64(1) << (63 - (n - 1).leadingZeroBitCount)
    }

    /// RFC 9162 §2.1.3.2: does `proof` show that `leaf` is at `index` in the tree of `size` with `root`?
    public static func verifyInclusion(leaf: TreeHash, index: UInt64, size: UInt64, proof: [TreeHash], root: TreeHash) -> Bool {
        guard index < size else { return false }
        var fn = index, sn = size - 1
        var r = leaf
        for p in proof {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                if fn & 1 == 0 {
                    repeat { fn >>= 1; sn >>= 1 } while fn & 1 == 0 && fn != 0
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// RFC 9162 §2.1.4.2: does `proof` show that the tree of `oldSize` with `oldRoot` is a
    /// prefix of the tree of `newSize` with `newRoot`? Size 0 is a prefix of everything.
    public static func verifyConsistency(oldSize: UInt64, newSize: UInt64, oldRoot: TreeHash, newRoot: TreeHash, proof: [TreeHash]) -> Bool {
        guard oldSize <= newSize else { return false }
        if oldSize == 0 { return proof.isEmpty }
        if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
        guard !proof.isEmpty else { return false }
        var path = proof
        if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
        var fn = oldSize - 1, sn = newSize - 1
        while fn & 1 == 1 { fn >>= 1; sn >>= 1 }
        var fr = path[0], sr = path[0]
        for c in path.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                if fn & 1 == 0 {
                    repeat { fn >>= 1; sn >>= 1 } while fn & 1 == 0 && fn != 0
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == oldRoot && sr == newRoot && sn == 0
    }
}

/// An append-only Merkle tree that keeps the hash of every complete, aligned subtree
/// (2n hashes for n leaves), so the root of any prefix and any proof take O(log² n) hashing.
public struct MerkleTree: Sendable {
    /// levels[k][j] = hash of leaves [j·2^k, (j+1)·2^k).
    private var levels: [[TreeHash]] = [[]]

    public init() {}

    public init(leaves: some Sequence<TreeHash>) {
        for l in leaves { append(l) }
    }

    public var size: UInt64 { UInt64(levels[0].count) }

    public func leaf(at index: UInt64) -> TreeHash { levels[0][Int(index)] }

    public mutating func append(_ leaf: TreeHash) {
        levels[0].append(leaf)
        var k = 0
        // A new complete subtree closes at every level where the count became even.
        while levels[k].count % 2 == 0 {
            let n = levels[k].count
            let parent = Merkle.nodeHash(levels[k][n - 2], levels[k][n - 1])
            if levels.count == k + 1 { levels.append([]) }
            levels[k + 1].append(parent)
            k += 1
        }
    }

    /// MTH of leaves [start, start + count), where the RFC's recursion guarantees that every
    /// power-of-two part is aligned.
    private func hash(start: UInt64, count: UInt64) -> TreeHash {
        if count & (count - 1) == 0 {
            let k = count.trailingZeroBitCount
            return levels[k][Int(start >> UInt64(k))]
        }
        let k = Merkle.split(count)
        return Merkle.nodeHash(hash(start: start, count: k), hash(start: start + k, count: count - k))
    }

    /// Root of the first `size` leaves.
    public func root(size: UInt64) -> TreeHash {
        precondition(size <= self.size)
        return size == 0 ? Merkle.emptyRoot : hash(start: 0, count: size)
    }

    public var root: TreeHash { root(size: size) }

    /// RFC 6962 PATH(index, D[0:size]).
    public func inclusionProof(index: UInt64, size: UInt64) -> [TreeHash] {
        precondition(index < size && size <= self.size)
        var proof: [TreeHash] = []
        path(index, start: 0, count: size, into: &proof)
        return proof
    }

    private func path(_ m: UInt64, start: UInt64, count: UInt64, into proof: inout [TreeHash]) {
        guard count > 1 else { return }
        let k = Merkle.split(count)
        if m < k {
            path(m, start: start, count: k, into: &proof)
            proof.append(hash(start: start + k, count: count - k))
        } else {
            path(m - k, start: start + k, count: count - k, into: &proof)
            proof.append(hash(start: start, count: k))
        }
    }

    /// RFC 6962 PROOF(oldSize, D[0:newSize]); empty when oldSize is 0 or equals newSize.
    public func consistencyProof(oldSize: UInt64, newSize: UInt64) -> [TreeHash] {
        precondition(oldSize <= newSize && newSize <= size)
        guard oldSize > 0, oldSize < newSize else { return [] }
        var proof: [TreeHash] = []
        subproof(oldSize, start: 0, count: newSize, complete: true, into: &proof)
        return proof
    }

    private func subproof(_ m: UInt64, start: UInt64, count: UInt64, complete: Bool, into proof: inout [TreeHash]) {
        if m == count {
            if !complete { proof.append(hash(start: start, count: count)) }
            return
        }
        let k = Merkle.split(count)
        if m <= k {
            subproof(m, start: start, count: k, complete: complete, into: &proof)
            proof.append(hash(start: start + k, count: count - k))
        } else {
            subproof(m - k, start: start + k, count: count - k, complete: false, into: &proof)
            proof.append(hash(start: start, count: k))
        }
    }
}

func lowerNibble(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x61...0x66: c - 0x61 + 10
    default: nil
    }
}

func hexNibble(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x61...0x66: c - 0x61 + 10
    case 0x41...0x46: c - 0x41 + 10
    default: nil
    }
}

/// Lowercase hex, two digits per byte.
public enum Hex {
    public static func encode(_ bytes: some Sequence<UInt8>) -> String { hexString(bytes) }
}

func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
    return String(decoding: out, as: UTF8.self)
}
