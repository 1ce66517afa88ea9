# syntax=docker/dockerfile:1
# Gatehouse hub image: Node 22 on Debian bookworm (slim; not alpine: better-sqlite3, epoll and unix-dgram
# are compiled against glibc). docs/install.md, "Docker".
#
#   docker build -t gatehouse .
#   docker buildx build --platform linux/arm64,linux/arm/v7,linux/amd64 -t <registry>/gatehouse:<version> --push .
#
# The JavaScript is built once on the build machine's own platform (it is the same for every processor);
# only the production dependencies are installed, and their native modules compiled, per target platform
# (under QEMU with buildx: slow for arm/v7, but nothing is compiled at boot).

# 1. The release: compiled JavaScript, the built UI and the cloud .proto, packed by `npm run release`
#    exactly as deploy/install.sh gets it, then unpacked into /app.
FROM --platform=$BUILDPLATFORM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Build tools only (TypeScript, esbuild): no install scripts, no native compile on this stage.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run release -- --out /release \
 && mkdir /app \
 && tar -xzf /release/gatehouse-*.tgz -C /app --strip-components=1

# 2. Production dependencies for the target platform, native modules compiled here (python3, make, g++).
FROM node:22-bookworm-slim AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/package.json /app/npm-shrinkwrap.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# 3. The image: the release, its production node_modules, tini as PID 1, a non-root user.
FROM node:22-bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app ./
COPY --from=deps /app/node_modules ./node_modules
ENV NODE_ENV=production \
    GATEHOUSE_DATA=/data
RUN mkdir -p /data && chown node:node /data && chmod 0700 /data
VOLUME /data
# 8883 MQTT over TLS (door controllers), 8443 HTTPS (staff web UI and API): docs/install.md, "Ports".
# Plain MQTT (1883) and HTTP (8080) stay on the container's loopback unless the config opens them.
EXPOSE 8883 8443
USER node
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "bin/healthcheck.js"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
# A 4 MiB young generation keeps idle memory near 105 MiB at no measurable cost to decisions (docs/benchmarks.md).
CMD ["node", "--max-semi-space-size=4", "dist/hub/main.js", "start"]
