# zhook — one image for every stage; the command picks the program:
#
#   docker run zhook zhook-scheduler | zhook-ingress | zhook-deliverer
#   docker run zhook zhook-keygen PATH NAME | zhook-compose-keys DIR | zhook-verify ...
#
# Build (no registry here: the base is imported locally, see docs/DEPLOY.md):
#   DOCKER_BUILDKIT=0 docker build --network=host -t zhook:0.1.0 .
#
# Base image: "debian:bookworm-slim", pinned by tag because the offline engine
# has it only as a locally imported image (no registry digest exists). With a
# real registry pin it by digest instead, e.g.
#   docker build --build-arg BASE=debian:bookworm-slim@sha256:<digest> .
# (docs/DEPLOY.md, "Pinning the base image").
ARG BASE=debian:bookworm-slim

# --- builder: `make all`, the programs (CI's `make test` builds the same ones
# first, then tests them; no tests run here) -------------------------------
FROM ${BASE} AS builder
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      pkg-config make gcc libc6-dev libzmq3-dev libczmq-dev libcivetweb-dev libmsgpack-dev \
      liblmdb-dev lmdb-utils libcurl4-openssl-dev libjansson-dev libssl-dev \
      libcmocka-dev curl procps ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# `make all` checks the packages (scripts/deps.sh) then builds bin/zhook-*
RUN make clean >/dev/null && make -j2 all && strip --strip-unneeded bin/zhook-*

# --- nginx: the TLS front of the compose stack (compose/nginx/) ------------
FROM ${BASE} AS nginx
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends nginx-light tini >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/log/nginx/* \
 && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin zhook
COPY compose/nginx/render.sh compose/nginx/zhook.conf.template /etc/zhook/nginx/
COPY docker/nginx-entrypoint.sh /usr/local/bin/zhook-nginx
USER 10001:10001
EXPOSE 8443
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/zhook-nginx"]

# --- runtime: only the shared libraries the programs link ------------------
# The apt line below is checked against `ldd bin/zhook-*` by
# tests/deploy/check_ldd.sh (make test): keep one package per line.
FROM ${BASE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      libczmq4 \
      libzmq5 \
      libcivetweb1 \
      libmsgpackc2 \
      liblmdb0 \
      libcurl4 \
      libjansson4 \
      libssl3 \
      ca-certificates \
      tini \
      >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/* \
 && useradd --system --uid 10001 --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin zhook \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/zhook
COPY --from=builder /src/bin/zhook-ingress /src/bin/zhook-scheduler /src/bin/zhook-deliverer \
     /src/bin/zhook-verify /src/bin/zhook-keygen /usr/local/bin/
COPY docker/healthcheck.sh /usr/local/bin/zhook-healthcheck
COPY docker/compose-keys.sh /usr/local/bin/zhook-compose-keys
# The scheduler's store. Deliberately no VOLUME: it would give every
# container of this image (ingress, deliverer, one-off tools) an anonymous
# writable volume. Mount one for the scheduler only:
#   docker run -v zhook-data:/var/lib/zhook zhook:0.1.0 zhook-scheduler
# (compose/ and k8s/ do; a new named volume takes this directory's owner 10001).
ENV ZHOOK_DATA_DIR=/var/lib/zhook
WORKDIR /var/lib/zhook
USER 10001:10001
EXPOSE 8080 9090 9091 5555 5556 5557 5558
# /live of whichever program runs (tini's child), with bash's /dev/tcp: no curl
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/zhook-healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["zhook-ingress"]
