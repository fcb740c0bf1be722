# quell's image: the one static quell binary (server and sensor) on
# distroless, non-root by default. CGO is off: the SQLite driver is pure
# Go (modernc.org/sqlite) and the eBPF objects are committed, so the build
# needs nothing but Go. Build with `make image` (docker or podman).
ARG GO_VERSION=1.26
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/quell ./cmd/quell

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/quell /usr/local/bin/quell
# 65532 (nonroot): the server runs as it; the chart runs the sensor as
# root with four capabilities only (docs/deploy.md).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/quell"]
