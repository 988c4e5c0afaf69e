package broker

import (
	"testing"
	"time"
)

// BenchmarkWindowReply is the window's cost per reply: release a slot,
// AIMD, grant the slot to the next of 64 waiting operations, take it.
func BenchmarkWindowReply(b *testing.B) {
	w := NewWindow(WindowOptions{Max: 1000, TargetDelay: time.Second})
	flows := make([]*Flow, 64)
	for i := range flows {
		flows[i] = w.Open()
		flows[i].Want(1 << 30)
	}
	held := make([]int, len(flows))
	b.ReportAllocs()
	j := 0
	for b.Loop() {
		// The next operation holding a slot answers.
		for {
			j = (j + 1) % len(flows)
			held[j] += flows[j].Take()
			if held[j] > 0 {
				break
			}
		}
		held[j]--
		flows[j].Done(time.Millisecond)
	}
}
