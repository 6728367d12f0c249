# promote in an image, for pipelines that run each step in a container (Cloud Build, GitLab CI,
# Tekton, Argo Workflows). Build and push it with your own registry pipeline, e.g.
#   docker build -t REGISTRY/promote:0.1.0 .
# A builder stage compiles the release binary; the runtime stage is Debian slim with only what
# promote runs: git (commits, pushes), an SSH client and CA certificates (for pushing over SSH or
# HTTPS). The entrypoint is promote: `docker run ... REGISTRY/promote:0.1.0 status`.
FROM rust:1.89-slim-bookworm AS build
WORKDIR /src
# The bundled example (`promote init` in an empty repository) is compiled into the binary;
# CI checks that these COPY lines hold everything the build reads.
COPY Cargo.toml Cargo.lock promote.yaml ./
COPY src ./src
COPY templates ./templates
COPY environments ./environments
COPY argocd ./argocd
RUN cargo install --locked --path . --root /out

FROM debian:bookworm-slim
# Unpinned on purpose: the runtime takes Debian's security updates whenever the image is rebuilt.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/bin/promote /usr/local/bin/promote
# It runs as the image's default user, root, as CI steps usually do: the workspace a pipeline mounts
# (Cloud Build's /workspace) belongs to root, and git refuses a repository another user owns.
WORKDIR /workspace
ENTRYPOINT ["promote"]
CMD ["--help"]
