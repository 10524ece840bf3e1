# syntax=docker/dockerfile:1
# The node agent image, also the edge operator's (`kubehero-agent operator`, a mode of the same
# executable). Build from the repository root (there is no Docker engine on the dev machines, so
# this file is kept simple and is not built by the tests):
#
#   docker build -f deploy/images/agent.Dockerfile -t ghcr.io/kubehero/kubehero-agent:0.1.0 .
#
# The build compiles the BPF programs (agent/bpf) with the toolchain's clang and bpftool; it
# needs the build machine's /sys/kernel/btf/vmlinux (Docker builds see the host's /sys) or
# KUBEHERO_VMLINUX_BTF naming a BTF file (agent/bpf/README.md).
ARG SWIFT_VERSION=6.3
ARG UBUNTU=noble

FROM swift:${SWIFT_VERSION}-${UBUNTU} AS build
RUN apt-get update && apt-get install -y --no-install-recommends libbpf-dev libelf-dev zlib1g-dev linux-tools-common linux-tools-generic \
    && ln -sf "$(ls /usr/lib/linux-tools/*/bpftool | head -1)" /usr/local/bin/bpftool \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Static Swift runtime and Foundation: BENCHMARKS.md found most of the agent's RSS to be
# pages of the dynamically linked runtime, Foundation and ICU.
RUN swift build -c release --static-swift-stdlib --product kubehero-agent \
    && mkdir /out && cp "$(swift build -c release --show-bin-path)"/kubehero-agent /out/

FROM ubuntu:${UBUNTU}
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libbpf1 libelf1 zlib1g \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/kubehero-agent /usr/local/bin/kubehero-agent
# Non-root by default (the operator runs so). The DaemonSet runs it as root only for the
# node's spool directory and, with eBPF, for its capabilities to be effective.
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/kubehero-agent"]
CMD ["run"]
