# syntax=docker/dockerfile:1
# Build: docker build -t pixgate .
# Run:   docker run -p 8080:8080 --env-file .env -e PIXGATE_API_KEY=... -v pixgate-state:/var/lib/pixgate pixgate

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY openapi ./openapi
RUN cargo build --release --locked --bin pixgate

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/pixgate --create-home pixgate
COPY --from=build /src/target/release/pixgate /usr/local/bin/pixgate
USER pixgate
WORKDIR /var/lib/pixgate
# Tokens and the upload ledger survive container restarts on this volume.
VOLUME ["/var/lib/pixgate"]
ENV PIXGATE_TOKEN_FILE=/var/lib/pixgate/tokens.json \
    PIXGATE_DB=/var/lib/pixgate/pixgate.db \
    PIXGATE_LISTEN=0.0.0.0:8080 \
    RUST_LOG=info
EXPOSE 8080
# Listening on 0.0.0.0 requires PIXGATE_API_KEY (or PIXGATE_ALLOW_UNAUTHENTICATED=true).
ENTRYPOINT ["/usr/local/bin/pixgate"]
