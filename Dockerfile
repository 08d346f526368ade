# syntax=docker/dockerfile:1
# The exporter's container image: a Rust build stage, then a runtime FROM scratch that holds
# only what the binary needs (its glibc libraries, CA certificates, a passwd entry for
# nobody). Build and push:
#
#   docker build -t ghcr.io/helpdesk-sla-exporter/helpdesk-sla-exporter:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse --short=12 HEAD) .
#   docker push ghcr.io/helpdesk-sla-exporter/helpdesk-sla-exporter:0.1.0
#
# scripts/check-image builds this runtime stage offline (buildah, FROM scratch with the
# rootfs scripts/image-rootfs assembles from a local release build) and runs the binary.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
# .git is not in the build context (.dockerignore); build.rs takes the revision from here.
ARG REVISION=unknown
RUN HSE_REVISION=${REVISION} cargo build --release --locked --bin helpdesk-sla-exporter \
 && scripts/image-rootfs target/release/helpdesk-sla-exporter /rootfs

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="helpdesk-sla-exporter" \
      org.opencontainers.image.description="Prometheus exporter for helpdesk SLAs" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /rootfs/ /
USER 65534:65534
WORKDIR /var/lib/helpdesk-sla-exporter
EXPOSE 10042
ENTRYPOINT ["/usr/bin/helpdesk-sla-exporter"]
