import KubeHeroCore
import SwiftProtobuf

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

public typealias WireDirective = Kubehero_Wire_V1_Directive
public typealias WireDirectiveAck = Kubehero_Wire_V1_DirectiveAck

extension Kubehero_Wire_V1_Directive {
    /// An `enforcement.set` directive: the set's id, and the set as JSON in parameter `set`.
    public init(_ set: EnforcementSet) {
        self.init()
        id = set.id
        kind = EnforcementSet.directiveKind
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Plain value types with string keys: encoding cannot fail.
        parameters = [EnforcementSet.parameter: String(decoding: (try? encoder.encode(set)) ?? Data("{}".utf8), as: UTF8.self)]
    }
}

extension EnforcementSet {
    /// Reads an `enforcement.set` directive; throws naming what is wrong with it.
    public init(directiveID id: String, kind: String, parameters: [String: String]) throws(ValidationError) {
        guard kind == Self.directiveKind else { throw ValidationError(field: "kind", "\"\(kind)\" is not \(Self.directiveKind)") }
        guard let json = parameters[Self.parameter] else { throw ValidationError(field: "parameters.\(Self.parameter)", "missing") }
        let set: EnforcementSet
        do {
            set = try JSONDecoder().decode(EnforcementSet.self, from: Data(json.utf8))
        } catch {
            throw ValidationError(field: "parameters.\(Self.parameter)", "not an enforcement set: \(error)")
        }
        guard set.id == id else { throw ValidationError(field: "id", "directive id \(id) differs from the set's id \(set.id)") }
        self = set
    }
}
