// Package reliability holds the fault and load tests that need whole
// daemon processes: replicas are this package's test binary re-executed as
// `pubtools-sign serve`, so they can be SIGKILLed and SIGTERMed like the
// real thing, against the real RabbitMQ, an embedded NATS server the test
// can stop and restart, and the signing-server emulator. Every test checks
// the daemon's promise: each submitted task gets exactly one correct
// envelope.
package reliability
