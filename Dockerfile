# syntax=docker/dockerfile:1
# assignd: a static binary (CGO off; SQLite is pure Go) on distroless, run as non-root.
#
# Your policy is part of the image: write it first, at the repository root,
#   go run ./cmd/assignd policy init policy.yaml     # then edit it
# and the build checks it (a broken policy, or one with the example's
# placeholder SIDs still in it, fails the build, not the deploy).
# To change the policy without rebuilding, mount a file over POLICY_FILE
# instead (a volume, or a mounted secret as deploy/cloudrun/service.yaml does).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# The build context has no .git (.dockerignore), so the revision comes in as
# a build argument for `assignd version`:
#   docker build --build-arg VERSION=$(git describe --always --dirty) -t assignd .
ARG VERSION=""
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w -X main.revision=${VERSION}" -o /out/assignd ./cmd/assignd \
 && /out/assignd version \
 && mkdir -p /out/data \
 && /out/assignd policy check -strict policy.yaml

# distroless/static carries CA certificates (for api.twilio.com) and tzdata, nothing else.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/assignd /assignd
COPY --from=build --chown=nonroot:nonroot /out/data /data
COPY policy.yaml /etc/assignd/policy.yaml
# The SQLite queue and development credentials live in /data: mount a volume there.
ENV PORT=8080 DATA_DIR=/data POLICY_FILE=/etc/assignd/policy.yaml
VOLUME ["/data"]
EXPOSE 8080
USER nonroot:nonroot
# No HEALTHCHECK: Fly.io and Cloud Run probe /healthz and /readyz themselves.
ENTRYPOINT ["/assignd"]
CMD ["serve"]
