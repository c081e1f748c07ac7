# pgmove in a container, for the pod that runs the runbook (see deploy/job.yaml).
#
# pgmove speaks the PostgreSQL protocol itself (tokio-postgres, rustls): the image needs no
# PostgreSQL client, no libpq and no OpenSSL, only the CA certificates for sslmode=verify-full.
#   docker build -t pgmove .
#   docker build --build-arg FEATURES=dms -t pgmove:dms .   # with `pgmove dms` (AWS SDK)

FROM rust:1.95-bookworm AS build
ARG FEATURES=""
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p pgmove-cli ${FEATURES:+--features $FEATURES} \
    && strip target/release/pgmove

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/pgmove /usr/local/bin/pgmove
# Not root: pgmove needs no privilege on the machine it runs on.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/pgmove"]
CMD ["--help"]
