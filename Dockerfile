# syntax=docker/dockerfile:1
#
# tokengate in a container: build with the Rust toolchain, run on a small
# Debian with the binary, its config/ and nothing else.
#
#   docker build -t tokengate .
#   docker run --rm -p 8080:8080 \
#     -e JWT_SECRET=... -e JWT_REFRESH_SECRET=... \
#     -e FRONTEND_ORIGIN=https://app.example.com -e MONGO_URI=mongodb://... \
#     tokengate
#
# The build and runtime images are the same Debian release, so the binary
# finds the glibc it was linked against. Switch both together, e.g.
#   --build-arg RUST_IMAGE=rust:1.95-slim-trixie --build-arg RUNTIME_IMAGE=debian:trixie-slim
ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS build
WORKDIR /src

# 1. Dependencies only. With nothing but the manifests and empty stand-ins
#    for every target they declare, this layer compiles all dependencies and
#    stays cached until Cargo.toml or Cargo.lock change.
COPY Cargo.toml Cargo.lock ./
RUN set -eu; \
    grep -o '^path = "[^"]*"' Cargo.toml | cut -d'"' -f2 | while read -r target; do \
        mkdir -p "$(dirname "$target")"; \
        echo 'fn main() {}' > "$target"; \
    done; \
    cargo build --release --locked --bin tokengate; \
    rm -rf src

# 2. The crate itself. The stand-ins above are newer than the copied sources,
#    so touch the sources: cargo compares modification times.
COPY src ./src
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked --bin tokengate \
    && cp target/release/tokengate /tokengate

# ---------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime

# ca-certificates: TLS to MongoDB. busybox (one ~1 MB binary; Debian's
# package makes no applet links) gives the health check an HTTP client (its
# wget); curl would pull in a dozen libraries for the same job.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates busybox \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --user-group --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin tokengate \
    && mkdir -p /app/data \
    && chown tokengate:tokengate /app/data

WORKDIR /app
COPY --from=build /tokengate /usr/local/bin/tokengate
COPY config ./config

# The production profile: secrets from the environment (start-up is refused
# without them), Secure cookies, JSON logs, listening on all interfaces.
ENV APP_ENV=production \
    APP_CONFIG_DIR=/app/config \
    PORT=8080 \
    SQLITE_PATH=/app/data/tokengate.sqlite

USER tokengate:tokengate
EXPOSE 8080
# Only used without MONGO_URI: the embedded SQLite store's file.
VOLUME ["/app/data"]

# Ready = the store answers (503 otherwise). Uses the configured PORT.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD busybox wget -q -O /dev/null "http://127.0.0.1:${PORT}/health/ready" || exit 1

# SIGTERM (docker stop) and SIGINT stop accepting and let in-flight requests
# finish within server.shutdown_timeout (30 s): give `docker stop` a longer
# grace period than its 10 s default, e.g. `docker stop -t 35`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/tokengate"]
