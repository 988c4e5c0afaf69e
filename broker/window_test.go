package broker

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// clock is a fake time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestWindow(max, initial int, target time.Duration) (*Window, *clock) {
	c := &clock{t: time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)}
	return NewWindow(WindowOptions{Max: max, Initial: initial, TargetDelay: target, Now: c.now}), c
}

func TestWindowGrantsUpToTheLimitAndOneSlotPerReply(t *testing.T) {
	w, _ := newTestWindow(100, 4, time.Second)
	f := w.Open()
	f.Want(10)
	assert.Equal(t, 4, f.Take())
	assert.Equal(t, 0, f.Take(), "nothing more until a reply")
	assert.Equal(t, WindowStats{Limit: 4, InFlight: 4, Queued: 6, Max: 100}, w.Stats())
	f.Release(1)
	assert.Equal(t, 1, f.Take())
	f.Close()
	st := w.Stats()
	assert.Zero(t, st.InFlight, "closing a flow frees every slot it held")
	assert.Zero(t, st.Queued)
}

func TestWindowIsFairToALateSmallOperation(t *testing.T) {
	w, _ := newTestWindow(8, 8, time.Second)
	big := w.Open()
	big.Want(10000)
	require.Equal(t, 8, big.Take())
	small := w.Open()
	small.Want(1)
	// The next free slot goes to the newcomer, not to the big operation's
	// 9,992 queued requests.
	big.Release(1)
	assert.Equal(t, 1, small.Take())
	assert.Equal(t, 0, big.Take())
	<-small.Ready()
}

// holderOf answers the one request in flight of a window of one slot and
// returns whose it was.
func holderOf(t *testing.T, flows []*Flow) int {
	t.Helper()
	holder := -1
	for i, f := range flows {
		if n := f.Take(); n > 0 {
			require.Equal(t, -1, holder, "one slot, one holder")
			require.Equal(t, 1, n)
			holder = i
		}
	}
	require.NotEqual(t, -1, holder, "the free slot was granted")
	flows[holder].Release(1)
	return holder
}

func TestWindowServesTheShortestOperationFirst(t *testing.T) {
	w, _ := newTestWindow(1, 1, time.Second)
	hog := w.Open()
	hog.Want(1)
	require.Equal(t, 1, hog.Take())
	flows := []*Flow{w.Open(), w.Open(), w.Open()}
	want := []int{5, 3, 8}
	for i, f := range flows {
		f.Want(want[i])
	}
	hog.Release(1)
	var finished []int
	left := append([]int(nil), want...)
	for range 16 {
		i := holderOf(t, flows)
		if left[i]--; left[i] == 0 {
			finished = append(finished, i)
		}
	}
	assert.Equal(t, []int{1, 0, 2}, finished, "fewest requests first")
}

func TestWindowFinishesEqualOperationsOneAfterAnother(t *testing.T) {
	w, _ := newTestWindow(1, 1, time.Second)
	flows := []*Flow{w.Open(), w.Open(), w.Open()}
	for _, f := range flows {
		f.Want(20)
	}
	left := []int{20, 20, 20}
	first := 0
	for n := 1; first == 0; n++ {
		i := holderOf(t, flows)
		if left[i]--; left[i] == 0 {
			first = n
		}
	}
	// Round robin would finish the first one after 58 slots; mostly
	// shortest-first after 20 / (1 - 1/RoundRobinEvery) ≈ 27.
	assert.LessOrEqual(t, first, 28)
}

func TestWindowLetsALargeOperationProgressAmongSmallOnes(t *testing.T) {
	w, _ := newTestWindow(1, 1, time.Second)
	big := w.Open()
	big.Want(1000)
	bigGot := 0
	flows := []*Flow{big}
	for range 100 {
		small := w.Open() // a stream of one-request operations
		small.Want(1)
		flows = append(flows, small)
		i := holderOf(t, flows)
		if i == 0 {
			bigGot++
			continue
		}
		flows[i].Close()
		flows = append(flows[:i], flows[i+1:]...)
	}
	assert.GreaterOrEqual(t, bigGot, 100/RoundRobinEvery/2, "a share of the slots, however many small ones come")
}

func TestWindowNeverExceedsItsMaximum(t *testing.T) {
	const max = 16
	w, c := newTestWindow(max, 1, time.Second)
	rng := rand.New(rand.NewPCG(1, 2))
	var flows []*Flow
	held := map[*Flow]int{}
	for range 5000 {
		switch rng.IntN(4) {
		case 0:
			f := w.Open()
			f.Want(1 + rng.IntN(50))
			flows = append(flows, f)
		default:
			if len(flows) == 0 {
				continue
			}
			f := flows[rng.IntN(len(flows))]
			held[f] += f.Take()
			if held[f] > 0 {
				held[f]--
				c.advance(time.Millisecond)
				f.Done(time.Millisecond) // fast replies: the limit wants to grow
			}
		}
		st := w.Stats()
		require.LessOrEqual(t, st.InFlight, max)
		require.LessOrEqual(t, st.Limit, max)
	}
	assert.Equal(t, max, w.Stats().Limit, "fast replies grow the window to its maximum")
}

func TestWindowAIMD(t *testing.T) {
	target := 100 * time.Millisecond
	w, c := newTestWindow(1000, 10, target)
	f := w.Open()
	f.Want(1 << 20)
	reply := func(rtt time.Duration) {
		f.Take()
		c.advance(time.Millisecond)
		f.Done(rtt)
	}
	// Slow start: one more slot per fast reply.
	for range 10 {
		reply(10 * time.Millisecond)
	}
	assert.Equal(t, 20, w.Stats().Limit)
	assert.Equal(t, 10*time.Millisecond, w.Stats().Base)

	// Replies queued well past the target: cut by a quarter, once per
	// round trip however many replies of that round say so.
	slow := 10*time.Millisecond + 3*target
	reply(slow)
	assert.Equal(t, 15, w.Stats().Limit)
	reply(slow)
	reply(slow)
	assert.Equal(t, 15, w.Stats().Limit, "one cut per round trip")
	c.advance(slow)
	reply(slow)
	assert.Equal(t, 11, w.Stats().Limit)

	// Between half the target and the target: hold.
	reply(10*time.Millisecond + target*3/4)
	assert.Equal(t, 11, w.Stats().Limit)

	// After a cut, growth is additive: about one slot per window of replies.
	for range 11 {
		reply(10 * time.Millisecond)
	}
	assert.Equal(t, 12, w.Stats().Limit)

	// Requests given up on halve it.
	f.Lost(1)
	assert.Equal(t, 6, w.Stats().Limit)
	assert.Equal(t, uint64(3), w.Stats().Cuts)
	assert.Equal(t, uint64(1), w.Stats().Lost)
}

func TestWindowNeverDropsBelowOne(t *testing.T) {
	w, c := newTestWindow(10, 2, time.Millisecond)
	f := w.Open()
	f.Want(100)
	for range 50 {
		f.Take()
		c.advance(time.Hour)
		f.Lost(1)
	}
	assert.Equal(t, 1, w.Stats().Limit)
	assert.Equal(t, 1, f.Take(), "one request still goes out")
}

func TestWindowReplyRate(t *testing.T) {
	w, c := newTestWindow(10, 10, time.Second)
	f := w.Open()
	f.Want(1000)
	for range 200 {
		f.Take()
		c.advance(10 * time.Millisecond)
		f.Done(time.Millisecond)
	}
	assert.InDelta(t, 100, w.Stats().ReplyRate, 1)
	c.advance(10 * time.Second)
	assert.Less(t, w.Stats().ReplyRate, 10.0, "falls once replies stop")
}

func TestWindowIgnoresUnknownRoundTrips(t *testing.T) {
	w, c := newTestWindow(100, 10, 100*time.Millisecond)
	f := w.Open()
	f.Want(100)
	f.Take()
	c.advance(time.Second)
	f.Done(2 * time.Second)
	before := w.Stats()
	f.Done(0) // a re-sent request's reply: its round trip is unknown
	after := w.Stats()
	assert.Equal(t, before.Base, after.Base)
	assert.Equal(t, before.Limit, after.Limit)
	assert.Equal(t, before.Replies+1, after.Replies)
}
