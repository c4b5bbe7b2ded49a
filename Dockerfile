# syntax=docker/dockerfile:1

# ---- build: a static binary (pure-Go SQLite, so no cgo) -------------------
FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so this layer is cached until go.mod/go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The *_templ.go files are committed; regenerating guards against a stale one.
RUN go tool templ generate
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/dingfluence ./cmd/dingfluence
# An empty data dir, copied below with the runtime user as owner so a fresh
# named volume mounted on /data is writable.
RUN mkdir -p /out/data

# ---- runtime: no shell, no package manager; CA certificates and tzdata ----
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dingfluence /usr/local/bin/dingfluence
COPY --from=build --chown=65532:65532 /out/data /data
ENV DINGFLUENCE_ADDR=:8080 \
    DINGFLUENCE_DB=sqlite:///data/dingfluence.db \
    DINGFLUENCE_DATA_DIR=/data
VOLUME /data
WORKDIR /data
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/dingfluence"]
