/// Something kept in ascending sequence order: the buffer's queue and the spool's index.
protocol SequenceNumbered {
    var sequence: UInt64 { get }
}

extension Array where Element: SequenceNumbered {
    /// Binary search for `sequence`; the array is in ascending sequence order.
    func index(of sequence: UInt64) -> Int? {
        let i = firstIndex(atLeast: sequence)
        return i < count && self[i].sequence == sequence ? i : nil
    }

    /// Index of the first element with a sequence above `sequence`.
    func firstIndex(after sequence: UInt64) -> Int {
        sequence == .max ? count : firstIndex(atLeast: sequence + 1)
    }

    func firstIndex(atLeast sequence: UInt64) -> Int {
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            if self[mid].sequence < sequence { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
