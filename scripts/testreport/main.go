// Command testreport reads `go test -json` on stdin and prints what a
// person needs from a run: each package's result line as it comes, the
// whole output of every test that failed or was skipped, and at the end
// the slowest tests. scripts/test.sh pipes the suite through it (the exit
// status stays go test's, through pipefail); it exits 1 itself when a
// failure was seen, so a run never looks green by accident.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

type timing struct {
	name    string
	elapsed float64
}

func main() {
	failed, err := report(os.Stdin, os.Stdout, 10)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

// report copies the useful part of the event stream in to out and lists
// the top slowest top-level tests; it says whether anything failed.
func report(in io.Reader, out io.Writer, top int) (bool, error) {
	start := time.Now()
	buffered := map[string][]string{} // package + test -> output so far
	var slow []timing
	failed := false
	flush := func(key string) {
		for _, line := range buffered[key] {
			fmt.Fprint(out, line)
		}
		delete(buffered, key)
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintln(out, sc.Text()) // not an event (a build error): show it as is
			continue
		}
		key := e.Package + "\x00" + e.Test
		switch {
		case e.Action == "build-output":
			fmt.Fprint(out, e.Output)
		case e.Test == "" && e.Action == "output":
			fmt.Fprint(out, e.Output) // "ok pkg 12.3s", "FAIL", panics outside tests
		case e.Test == "" && e.Action == "fail":
			failed = true
			// A binary that died (timeout, panic) ends its tests without
			// a result of their own: show what they printed.
			for k := range buffered {
				if strings.HasPrefix(k, e.Package+"\x00") {
					flush(k)
				}
			}
		case e.Test == "":
		case e.Action == "output":
			buffered[key] = append(buffered[key], e.Output)
		case e.Action == "fail" || e.Action == "skip":
			failed = failed || e.Action == "fail"
			flush(key)
		case e.Action == "pass":
			delete(buffered, key)
		}
		if (e.Action == "pass" || e.Action == "fail") && e.Test != "" && !strings.Contains(e.Test, "/") {
			slow = append(slow, timing{name: e.Package + " " + e.Test, elapsed: e.Elapsed})
		}
	}
	if err := sc.Err(); err != nil {
		return true, err
	}
	sort.Slice(slow, func(i, j int) bool { return slow[i].elapsed > slow[j].elapsed })
	fmt.Fprintf(out, "\n%d tests in %s; the slowest:\n", len(slow), time.Since(start).Round(time.Second))
	for _, s := range slow[:min(top, len(slow))] {
		fmt.Fprintf(out, "  %6.1fs  %s\n", s.elapsed, s.name)
	}
	return failed, nil
}
