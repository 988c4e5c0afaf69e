package testenv

import (
	"net"
	"strconv"
	"testing"
)

func TestPortsAreDistinctBindableAndBelowTheEphemeralRange(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		p := Port(t)
		if p < portsFirst || p >= portsFirst+portsBlocks*portsBlockSize {
			t.Fatalf("port %d outside %d-%d", p, portsFirst, portsFirst+portsBlocks*portsBlockSize-1)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatalf("port %d is not bindable: %v", p, err)
		}
		ln.Close()
	}
}

func TestAPortHeldByAnotherListenerIsSkipped(t *testing.T) {
	Port(t) // the block is claimed
	ports.Lock()
	next := ports.base + ports.next
	ports.Unlock()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(next))
	if err != nil {
		t.Skipf("port %d is busy already: %v", next, err)
	}
	defer ln.Close()
	if p := Port(t); p == next {
		t.Fatalf("port %d handed out while another listener holds it", p)
	}
}

func TestAProcessThatUsedUpItsBlockGetsAnother(t *testing.T) {
	seen := map[int]bool{}
	for range 2*portsBlockSize + 10 {
		p := Port(t)
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}
