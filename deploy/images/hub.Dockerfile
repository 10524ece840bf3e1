# syntax=docker/dockerfile:1
# The hub image: kubehero-hub, plus the kubehero CLI for `kubectl exec` and the pricing
# catalog snapshot. Build from the repository root (there is no Docker engine on the dev
# machines, so this file is kept simple and is not built by the tests):
#
#   docker build -f deploy/images/hub.Dockerfile -t ghcr.io/kubehero/kubehero-hub:0.1.0 .
# Package.swift needs tools 6.3.
ARG SWIFT_VERSION=6.3
ARG UBUNTU=noble

FROM swift:${SWIFT_VERSION}-${UBUNTU} AS build
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The Swift runtime and Foundation are linked in, so the runtime image needs neither.
RUN swift build -c release --static-swift-stdlib --product kubehero-hub \
    && swift build -c release --static-swift-stdlib --product kubehero \
    && mkdir /out && cp "$(swift build -c release --show-bin-path)"/kubehero-hub \
       "$(swift build -c release --show-bin-path)"/kubehero /out/

FROM ubuntu:${UBUNTU}
RUN apt-get update && apt-get install -y --no-install-recommends libsqlite3-0 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
# `serve` imports the catalogs in pricing/ (relative to its working directory) when no
# --pricing-source is given.
COPY pricing/ /usr/share/kubehero/pricing/
WORKDIR /usr/share/kubehero
# The chart runs it as 65532 too, with a read-only root file system.
USER 65532:65532
EXPOSE 8443 9443
ENTRYPOINT ["/usr/local/bin/kubehero-hub"]
CMD ["serve", "--data-dir", "/var/lib/kubehero/hub"]
