# llmperf-actors container image.
#
#   docker build -t llmperf-actors .
#   docker run --rm -v "$PWD/results:/results" \
#     -v "$PWD/settings/config.yml:/etc/config/config.yml:ro" llmperf-actors
#
# The fork's paths: the config is read from /etc/config/config.yml (the default CMD) and results go to /results
# (LLMPERF_RESULTS_DIR below overrides the config file's results_dir; a --results-dir flag overrides both).
# The tokenizer and the sonnet corpus are embedded in the binary: nothing is downloaded at run time.

# ---- build ------------------------------------------------------------------------------------------------
FROM rust:1.89-slim-bookworm AS build
WORKDIR /src

# Dependencies first, in a layer of their own: a dummy crate with the real manifest and lock file, so a change
# to src/ does not rebuild the ~300 crates below it. The manifest declares the examples and a bench, and cargo
# refuses a manifest whose declared targets are missing even when it does not build them: they come with it
# (they are small and rarely change). `.ci/docker_context_check.py` builds this stage from its context in CI.
COPY Cargo.toml Cargo.lock ./
COPY examples ./examples
COPY benches ./benches
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src

COPY assets ./assets
COPY src ./src
# touch: COPY keeps the files' old modification times, which cargo could take as older than the dummy build.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked

# ---- run --------------------------------------------------------------------------------------------------
FROM debian:bookworm-slim

# A fixed numeric user, so Kubernetes' runAsNonRoot can verify it; /results is theirs for a volume-less run.
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin llmperf \
    && mkdir -p /results /etc/config \
    && chown 10001:10001 /results

COPY --from=build /src/target/release/llmperf-actors /usr/local/bin/llmperf-actors

ENV LLMPERF_RESULTS_DIR=/results
WORKDIR /results
USER 10001:10001
VOLUME ["/results"]

ENTRYPOINT ["llmperf-actors"]
CMD ["--config", "/etc/config/config.yml"]
