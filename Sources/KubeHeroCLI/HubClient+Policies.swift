import KubeHeroCore
import KubeHeroPolicy
import NIOHTTP1

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension HubClient {
    /// `POST /v1/policies`: creates or replaces the policy the document names.
    public func applyPolicy(_ policy: BudgetPolicy) async throws -> PolicyApplyResponse {
        try await send(.POST, "/v1/policies", body: Data(policy.canonicalJSON().utf8))
    }

    public func getPolicy(_ name: String) async throws -> PolicyInfo {
        try await send(.GET, "/v1/policies/\(PercentEncoding.encode(name))")
    }

    public func listPolicies() async throws -> PolicyList {
        try await send(.GET, "/v1/policies")
    }

    public func deletePolicy(_ name: String) async throws {
        _ = try await sendBytes(.DELETE, "/v1/policies/\(PercentEncoding.encode(name))")
    }

    public func policyStatus(_ name: String) async throws -> PolicyStatus {
        try await send(.GET, "/v1/policies/\(PercentEncoding.encode(name))/status")
    }

    /// `POST /v1/policies/{name}/arm` or `/disarm`.
    public func setPolicyArmed(_ name: String, _ armed: Bool) async throws -> PolicyInfo {
        try await send(.POST, "/v1/policies/\(PercentEncoding.encode(name))/\(armed ? "arm" : "disarm")")
    }
}
