package msg

import (
	"crypto/rand"
	"encoding/hex"
)

// containerID names one AMQP connection to the broker:
// pubtools-sign-<creator>-<random>. Every replica runs as the same
// creator; a container-id they all shared would make brokers refuse the
// second connection or drop the first (AMQP 1.0 lets a broker enforce one
// connection per container-id, and ActiveMQ does).
func containerID(creator string) string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	id := "pubtools-sign-"
	if creator != "" {
		id += creator + "-"
	}
	return id + hex.EncodeToString(b[:])
}
