import Foundation
import KubeHeroAgent
import KubeHeroCore
import Testing

/// A kubelet answer that is not a PodList is refused with the JSON path that did not fit.
@Suite("Metadata: PodList decoding")
struct MetadataDecodingTests {
    static let url = "https://127.0.0.1:10250/pods"

    static func decodeError(_ json: String) -> KubeletError? {
        #expect(throws: KubeletError.self) { try KubeletPodList.decode(Data(json.utf8), from: url) }
    }

    @Test("a truncated answer is not valid JSON")
    func truncated() throws {
        let error = #expect(throws: KubeletError.self) {
            try KubeletPodList.decode(MetadataFixtures.data(MetadataFixtures.truncated), from: Self.url)
        }
        #expect(error?.code == .malformedJSON)
        #expect(error?.description.hasPrefix("kubelet at \(Self.url): the answer is not a PodList: not valid JSON") == true, "\(error.map { "\($0)" } ?? "")")
    }

    @Test("a wrong type names its JSON path")
    func wrongType() {
        let error = Self.decodeError(#"{"items":[{"metadata":{"name":"a","uid":"u"}},{"metadata":{"name":"b","uid":"v"},"spec":{"containers":[{"name":7}]}}]}"#)
        #expect(error?.code == .malformedJSON)
        #expect(error?.reason == "the answer is not a PodList: items[1].spec.containers[0].name: expected a string")
    }

    @Test("a missing required field names its JSON path")
    func missingField() {
        let error = Self.decodeError(#"{"items":[{"metadata":{"name":"a"}}]}"#)
        #expect(error?.reason == "the answer is not a PodList: items[0].metadata.uid: missing")
    }

    @Test("an object where an array belongs names its JSON path")
    func objectForArray() {
        let error = Self.decodeError(#"{"items":{"metadata":{}}}"#)
        #expect(error?.reason == "the answer is not a PodList: items: expected an array")
    }

    @Test("labels that are not strings name the label")
    func labelNotString() {
        let error = Self.decodeError(#"{"items":[{"metadata":{"name":"a","uid":"u","labels":{"tier":3}}}]}"#)
        #expect(error?.reason == "the answer is not a PodList: items[0].metadata.labels.tier: expected a string")
    }

    @Test("an HTML error page is not JSON")
    func notJSON() {
        let error = Self.decodeError("<html><body>502 Bad Gateway</body></html>")
        #expect(error?.reason.hasPrefix("the answer is not a PodList: not valid JSON") == true)
    }

    @Test("unknown fields and absent optional ones are fine")
    func tolerant() throws {
        let list = try KubeletPodList.decode(Data(#"""
        {"kind":"PodList","apiVersion":"v1","futureField":{"x":[1,2]},"items":[
          {"metadata":{"name":"static-web-node-1","uid":"abc","annotations":{"kubernetes.io/config.source":"file"}},
           "spec":{"containers":[{"name":"web","resizePolicy":[{"resourceName":"cpu","restartPolicy":"NotRequired"}]}]},
           "status":{"containerStatuses":[{"name":"web","allocatedResources":{"cpu":"1"}}]}}
        ]}
        """#.utf8), from: Self.url)
        #expect(list.items.count == 1)
        #expect(list.items[0].metadata.namespace == "default")
        #expect(list.items[0].status.containerStatuses[0].runtimeID == nil)
        #expect(try KubeletPodList.decode(Data(#"{"kind":"PodList","items":null}"#.utf8), from: Self.url).items.isEmpty)
    }

    @Test("runtime ids lose their runtime prefix", arguments: [
        ("containerd://0123abcd", "0123abcd"), ("cri-o://ABCDEF", "abcdef"), ("docker://ff00", "ff00"), ("bare", "bare"),
    ])
    func runtimeIDs(containerID: String, expected: String) throws {
        let list = try KubeletPodList.decode(Data(#"""
        {"items":[{"metadata":{"name":"a","uid":"u"},"status":{"containerStatuses":[{"name":"c","containerID":"\#(containerID)"}]}}]}
        """#.utf8), from: Self.url)
        #expect(list.items[0].status.containerStatuses[0].runtimeID == expected)
    }
}
