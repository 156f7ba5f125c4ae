# syntax=docker/dockerfile:1
# assignd: a static binary (CGO off; SQLite is pure Go) on distroless, run as non-root.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/assignd ./cmd/assignd \
 && mkdir -p /out/data

# distroless/static carries CA certificates (for api.twilio.com) and tzdata, nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/assignd /assignd
COPY --from=build --chown=nonroot:nonroot /out/data /data
# The SQLite queue and development credentials live in /data: mount a volume there.
ENV PORT=8080 DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
# No HEALTHCHECK: Fly.io and Cloud Run probe /healthz and /readyz themselves.
ENTRYPOINT ["/assignd"]
CMD ["serve"]
