# syntax=docker/dockerfile:1
# Multi-stage build of the static pubtools-sign binary on a distroless,
# non-root base. The "cosign" target adds the pinned cosign binary for the
# cosign-container signer.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN scripts/build.sh /out/pubtools-sign

FROM golang:1.26 AS cosign-build
RUN CGO_ENABLED=0 GOBIN=/out go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5

FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=build /out/pubtools-sign /usr/bin/pubtools-sign
USER nonroot:nonroot
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["/usr/bin/pubtools-sign", "healthcheck"]
ENTRYPOINT ["/usr/bin/pubtools-sign"]
CMD ["serve"]

FROM runtime AS cosign
COPY --from=cosign-build /out/cosign /usr/bin/cosign

FROM runtime
