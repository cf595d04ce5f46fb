# The Berth registry's own image. Build: docker build -t berth-registry .
# Stage 1 compiles TypeScript and better-sqlite3; stage 2 carries only what runs.
FROM node:20-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
# Every workspace must be present for npm ci to match the lockfile.
COPY packages packages
COPY services services
COPY test test
COPY bench bench
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
RUN npx tsc -b packages/oci packages/storage packages/metadata services/registry \
 && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
ENV NODE_ENV=production BERTH_DATA_DIR=/var/lib/berth BERTH_HTTP_ADDR=0.0.0.0:5000
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules node_modules
COPY --from=build /src/packages/oci/package.json packages/oci/
COPY --from=build /src/packages/oci/dist packages/oci/dist
COPY --from=build /src/packages/storage/package.json packages/storage/
COPY --from=build /src/packages/storage/dist packages/storage/dist
COPY --from=build /src/packages/metadata/package.json packages/metadata/
COPY --from=build /src/packages/metadata/dist packages/metadata/dist
COPY --from=build /src/services/registry/package.json services/registry/
COPY --from=build /src/services/registry/dist services/registry/dist
RUN mkdir -p /var/lib/berth && chown node:node /var/lib/berth
USER node
VOLUME /var/lib/berth
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:5000/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "services/registry/dist/src/main.js", "serve"]
