# The lambda image: one binary, every role (`lambda serve`, `speed`, `archive`,
# `batch schedule`, `migrate`, ...) chosen by the command; the ONNX Runtime library inside.
#
#   docker build -t lambda:dev .
#   docker run --rm lambda:dev -h
#
# deployments/compose.yaml runs the whole platform from it; deployments/k8s/ on a cluster.

# ---------------------------------------------------------------- build: the binary
# cgo: onnxruntime_go loads the ONNX Runtime library through it, so the binary links glibc
# and the runtime stage is Debian (bookworm) like this one.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/lambda ./cmd/lambda

# ---------------------------------------------------------------- onnxruntime: the library
# The way scripts/services.sh fetches it: the onnxruntime-node npm tarball (`npm pack`
# runs no install scripts), one file out of it, sha256-checked. ORT_VERSION and
# ORT_SHA256 are services.sh's ort_version and ort_sha256; deployments/dockerfile_test.go
# fails when they differ.
FROM node:20-bookworm-slim AS onnxruntime
ARG ORT_VERSION=1.30.0
ARG ORT_SHA256=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
WORKDIR /ort
RUN npm pack --silent "onnxruntime-node@${ORT_VERSION}" \
 && tar -xzf "onnxruntime-node-${ORT_VERSION}.tgz" package/bin/napi-v6/linux/x64/libonnxruntime.so.1 \
 && echo "${ORT_SHA256}  package/bin/napi-v6/linux/x64/libonnxruntime.so.1" | sha256sum -c - \
 && mv package/bin/napi-v6/linux/x64/libonnxruntime.so.1 libonnxruntime.so.1 \
 && rm -rf package "onnxruntime-node-${ORT_VERSION}.tgz"

# ---------------------------------------------------------------- onnxruntime-web: the browser client's runtime
# The files /edge/ort/ serves (single-threaded wasm), out of the npm tarball whose sha256
# scripts/services.sh pins (ort_web_version, ort_web_sha256; the same test compares them).
FROM node:20-bookworm-slim AS onnxruntime-web
ARG ORT_WEB_VERSION=1.30.0
ARG ORT_WEB_SHA256=d2228df7e4616bc3348bf504ee888f3bec43789a273f0a63f3e68d203ce3bf71
WORKDIR /ortweb
RUN npm pack --silent "onnxruntime-web@${ORT_WEB_VERSION}" \
 && echo "${ORT_WEB_SHA256}  onnxruntime-web-${ORT_WEB_VERSION}.tgz" | sha256sum -c - \
 && tar -xzf "onnxruntime-web-${ORT_WEB_VERSION}.tgz" package/dist/ort.wasm.min.mjs \
      package/dist/ort-wasm-simd-threaded.mjs package/dist/ort-wasm-simd-threaded.wasm \
 && mv package/dist/* . \
 && rm -rf package "onnxruntime-web-${ORT_WEB_VERSION}.tgz"

# ---------------------------------------------------------------- runtime
FROM debian:bookworm-slim
# libstdc++6: the ONNX Runtime library needs it (and libc only); curl: the HEALTHCHECK.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl libstdc++6 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 lambda \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/lambda --create-home --shell /usr/sbin/nologin lambda
COPY --from=onnxruntime /ort/libonnxruntime.so.1 /usr/local/lib/onnxruntime/libonnxruntime.so.1
COPY --from=onnxruntime-web /ortweb/ /usr/local/share/onnxruntime-web/
COPY --from=build /out/lambda /usr/local/bin/lambda
# Listen on every interface, not loopback as on a workstation: other containers connect
# and Prometheus scrapes. LAMBDA_DATA_DIR only matters to `lambda up`'s embedded broker.
ENV LAMBDA_ORT_LIB=/usr/local/lib/onnxruntime/libonnxruntime.so.1 \
    LAMBDA_ORT_WEB_DIR=/usr/local/share/onnxruntime-web \
    LAMBDA_HTTP_ADDR=0.0.0.0:8080 \
    LAMBDA_ARCHIVE_METRICS_ADDR=0.0.0.0:9101 \
    LAMBDA_SPEED_METRICS_ADDR=0.0.0.0:9102 \
    LAMBDA_BATCH_METRICS_ADDR=0.0.0.0:9103 \
    LAMBDA_DATA_DIR=/var/lib/lambda \
    LAMBDA_LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/lambda
# 8080: the HTTP API (serve, up); 9101-9103: /metrics of archive, speed, batch schedule.
EXPOSE 8080 9101 9102 9103
# The API's liveness. The roles without the API (archive, speed, batch schedule) answer
# only /metrics on their own port: compose overrides this check for them.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["lambda"]
CMD ["serve"]
