# syntax=docker/dockerfile:1
# ram-operator: a static (musl) binary on a distroless base, running as a non-root user.
#
#   docker build -t ram-operator:0.1.0 .
#
# Base images are pinned by tag. For reproducible builds pin them by digest as well
# (`docker buildx imagetools inspect <image>` prints it) and let a bot such as Renovate bump it.

ARG RUST_IMAGE=docker.io/library/rust:1.95-alpine3.22
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${RUST_IMAGE} AS build
# ring compiles C and assembly: a musl C toolchain is all it needs.
RUN apk add --no-cache musl-dev
WORKDIR /src
# Dependencies first, so that a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked --bin ram-operator \
    && rm -rf src
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin ram-operator \
    && strip target/release/ram-operator \
    # A static binary or nothing: the runtime image has no libc.
    && ! ldd target/release/ram-operator 2>/dev/null | grep -q '=>'

FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="ram-operator" \
      org.opencontainers.image.description="Alibaba Cloud cross-account access (RAM roles, RAM users, STS credentials) for Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /src/target/release/ram-operator /ram-operator
# 65532 is distroless' nonroot user; the chart runs the pod with the same id.
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["/ram-operator"]
CMD ["run"]
