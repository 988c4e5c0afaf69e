package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// Test ports come from 29000-32699: below Linux's ephemeral range
// (32768-60999), where any outgoing connection of the test run could take
// a port between the moment it is chosen and the moment a component binds
// it, and above the brokers' blocks (20000-28999, scripts/broker.sh). The
// range is cut into blocks of 100; each test process holds a block for its
// lifetime (and another when it used one up) with an flock on a file under
// the system temp dir (released by the kernel when the process ends), so
// parallel test processes of any checkout never hand out the same port. Within the process a port is
// handed out once, after a listen on 127.0.0.1 showed it free.
const (
	portsFirst     = 29000
	portsBlockSize = 100
	portsBlocks    = 37
)

var ports struct {
	sync.Mutex
	base  int // first port of the block in use; 0 before the first claim
	next  int // offset of the next candidate in the block
	used  map[int]bool
	locks []*os.File // kept open: each claim lasts as long as the process
}

// Port returns a TCP port on 127.0.0.1 that is free now, below the
// ephemeral range, and not handed out before to this process or to another
// process of the test run. A component given it binds it itself, so it can
// be stopped and started again on the same address. Failing to find one
// fails the test.
func Port(t testing.TB) int {
	t.Helper()
	p, err := FreePort()
	if err != nil {
		t.Fatalf("testenv.Port: %v", err)
	}
	return p
}

// Addr is "127.0.0.1:<Port(t)>".
func Addr(t testing.TB) string {
	t.Helper()
	return fmt.Sprintf("127.0.0.1:%d", Port(t))
}

// Listen returns a listener on 127.0.0.1 at a port from the same pool,
// for components that accept a listener (no window between choosing the
// port and binding it). It is closed when the test ends.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	for range portsBlockSize {
		ln, err := net.Listen("tcp", Addr(t))
		if err == nil {
			t.Cleanup(func() { ln.Close() })
			return ln
		}
	}
	t.Fatalf("testenv.Listen: no port of the block could be bound")
	return nil
}

// FreePort is Port for code without a testing.TB (benchmark drivers).
// A process that used up its block claims another one.
func FreePort() (int, error) {
	ports.Lock()
	defer ports.Unlock()
	for {
		if ports.base == 0 || ports.next == portsBlockSize {
			if err := claimBlock(); err != nil {
				return 0, err
			}
		}
		for ports.next < portsBlockSize {
			p := ports.base + ports.next
			ports.next++
			if ports.used[p] {
				continue
			}
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				continue // something else holds it
			}
			ln.Close()
			ports.used[p] = true
			return p, nil
		}
	}
}

// claimBlock takes the first block, starting from one derived from the
// pid, whose lock file no other live process holds.
func claimBlock() error {
	dir := filepath.Join(os.TempDir(), "pubtools-sign-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("port claims: %w", err)
	}
	start := os.Getpid() % portsBlocks
	for i := range portsBlocks {
		n := (start + i) % portsBlocks
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(n)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return fmt.Errorf("port claims: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				continue
			}
			return fmt.Errorf("port claims: lock %s: %w", f.Name(), err)
		}
		ports.base, ports.next = portsFirst+n*portsBlockSize, 0
		ports.locks = append(ports.locks, f)
		if ports.used == nil {
			ports.used = map[int]bool{}
		}
		return nil
	}
	return fmt.Errorf("all %d test port blocks (%d-%d) are held by other processes", portsBlocks, portsFirst, portsFirst+portsBlocks*portsBlockSize-1)
}
