import Foundation
import PackagePlugin

/// Builds the agent's BPF programs (agent/bpf/*.bpf.c) from source during `swift build`: clang
/// `-target bpf`, then `bpftool gen skeleton`, through agent/bpf/build-skeletons.sh. The
/// skeleton headers land in this plugin's `include/` output directory and the loader glue
/// (Sources/CKubeHeroBPF/glue/loader.c) is copied next to them as a generated C source, which
/// is how SwiftPM (tools 6.3, `experimentalCGen`) lets generated headers reach a C target.
/// Nothing compiled is committed. See agent/bpf/README.md.
@main
struct KubeHeroBPFSkeletons: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let package = context.package.directoryURL
        let bpf = package.appending(path: "agent/bpf")
        let loader = target.directoryURL.appending(path: "glue/loader.c")
        let script = bpf.appending(path: "build-skeletons.sh")
        let out = context.pluginWorkDirectoryURL
        let include = out.appending(path: "include")
        // The toolchain's clang has the BPF back end.
        let clang = (try? context.tool(named: "clang").url.path) ?? "clang"
        let inputs = ["cpu.bpf.c", "net.bpf.c", "kubehero_bpf_maps.h", "build-skeletons.sh"].map { bpf.appending(path: $0) } + [loader]
        return [
            .buildCommand(
                displayName: "Building BPF programs and skeletons (agent/bpf)",
                executable: URL(fileURLWithPath: "/bin/sh"),
                arguments: [script.path, out.path, loader.path, clang],
                inputFiles: inputs,
                outputFiles: [
                    include.appending(path: "kh_cpu.skel.h"), include.appending(path: "kh_net.skel.h"),
                    include.appending(path: "kubehero_bpf_maps.h"), include.appending(path: "vmlinux.h"),
                    out.appending(path: "kubehero_bpf_loader.c"),
                ]
            )
        ]
    }
}
