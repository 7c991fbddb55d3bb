# One image holding `ferroflink` (JobManager, TaskManager, local runs) and `ferroflink-operator`.
# Build: docker build -t ferroflink:dev .

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The same command as README.md's "Build from source".
RUN cargo build --release --locked -p ferroflink -p ferroflink-operator

# Distroless: glibc and nothing else; runs as the non-root user 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/ferroflink /src/target/release/ferroflink-operator /usr/local/bin/
COPY --from=build /src/worker/data /opt/ferroflink/data
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ferroflink"]
