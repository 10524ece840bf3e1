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
        #expect(error?.description == "kubelet at \(Self.url): the answer is not a PodList: not valid JSON: the answer ends after 5200 bytes, inside items[0].status (truncated?)")
    }

    @Test("a syntax error names line, column and JSON path", arguments: [
        ("{\"items\": [{\"metadata\": }]}", "unexpected character at line 1, column 25, inside items[0].metadata"),
        ("{\"items\": [\n  {\"metadata\": {\"name\": \"a\" \"uid\": \"b\"}}]}", "unexpected character at line 2, column 29, inside items[0].metadata"),
        ("{\"items\": [{\"metadata\": {\"name\": \"web", "the answer ends after 37 bytes, inside items[0].metadata.name (truncated?)"),
        ("{\"items\": [] } trailing", "unexpected character at line 1, column 16"),
        ("{\"items\": [tru", "the answer ends after 14 bytes, inside items[0] (truncated?)"),
    ])
    func syntaxErrorLocated(json: String, expected: String) {
        #expect(Self.decodeError(json)?.reason == "the answer is not a PodList: not valid JSON: \(expected)")
    }

    @Test("hostile nesting is refused without exhausting the stack")
    func deepNesting() {
        let error = Self.decodeError(String(repeating: "[", count: 200_000))
        #expect(error?.code == .malformedJSON)
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
        #expect(error?.reason == "the answer is not a PodList: not valid JSON: unexpected character at line 1, column 1")
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
