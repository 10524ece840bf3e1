# syntax=docker/dockerfile:1
# The node agent image, also the edge operator's (a mode of the same executable, planned in
# issue 8). Build from the repository root (there is no Docker engine on the dev machines, so
# this file is kept simple and is not built by the tests):
#
#   docker build -f deploy/images/agent.Dockerfile -t ghcr.io/kubehero/kubehero-agent:0.1.0 .
#
# When eBPF lands (issue 6) the build stage also needs clang, llvm, libbpf-dev and bpftool.
ARG SWIFT_VERSION=6.1
ARG UBUNTU=noble

FROM swift:${SWIFT_VERSION}-${UBUNTU} AS build
WORKDIR /src
COPY . .
# Static Swift runtime and Foundation: BENCHMARKS.md found most of the agent's RSS to be
# pages of the dynamically linked runtime, Foundation and ICU.
RUN swift build -c release --static-swift-stdlib --product kubehero-agent \
    && mkdir /out && cp "$(swift build -c release --show-bin-path)"/kubehero-agent /out/

FROM ubuntu:${UBUNTU}
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/kubehero-agent /usr/local/bin/kubehero-agent
# Non-root by default (the operator runs so). The DaemonSet runs it as root only for the
# node's spool directory and, with eBPF, for its capabilities to be effective.
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/kubehero-agent"]
CMD ["run"]
