// Package server is quell's HTTP server: alert ingest (Falco and
// Falcosidekick JSON, Kubernetes audit webhook batches, quell's own alert
// JSON, the sensor's alert batches), the incident API, metrics and health.
//
// Contract:
//   - Every endpoint except /healthz and /readyz requires a bearer token from
//     the token file; tokens are rate limited one by one.
//   - With a client CA file (server.tls_client_ca_file) every connection,
//     health checks included, must present a client certificate signed by
//     one of its CAs or the TLS handshake fails; tokens are still required.
//   - Request bodies are capped; every server timeout is set; a bad request
//     gets a 4xx JSON error naming what is wrong and never affects what is
//     stored.
//   - A 2xx on an ingest endpoint means the alerts are durably stored: ingest
//     goes through a group-commit batcher whose transaction committed before
//     the handler answers.
//   - Every alert belongs to one of the clusters served (Options.Clusters):
//     the request's ?cluster=, else (Falco alerts) its k8s.cluster.name or
//     cluster output field, else the default cluster; an unknown name is a
//     400 naming it and the clusters known. A cluster's targets are
//     resolved within ResolveTimeout, concurrently with other clusters', so
//     a cluster that does not answer delays only its own alerts; each
//     cluster's Sink gets only its own alerts, and an incident is restored,
//     approved and investigated through its own cluster.
//
// Start(ctx) serves until ctx is cancelled, then shuts down within the
// configured grace period.
package server
