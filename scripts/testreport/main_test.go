package main

import (
	"strings"
	"testing"
)

const stream = `{"Action":"run","Package":"p","Test":"TestOK"}
{"Action":"output","Package":"p","Test":"TestOK","Output":"ok noise\n"}
{"Action":"pass","Package":"p","Test":"TestOK","Elapsed":1.5}
{"Action":"output","Package":"p","Test":"TestBad","Output":"    bad_test.go:3: boom\n"}
{"Action":"fail","Package":"p","Test":"TestBad","Elapsed":0.2}
{"Action":"output","Package":"p","Test":"TestSkip","Output":"    SKIPPED: run scripts/deps.sh\n"}
{"Action":"skip","Package":"p","Test":"TestSkip","Elapsed":0}
{"Action":"output","Package":"p","Output":"FAIL\tp\t1.9s\n"}
{"Action":"fail","Package":"p","Elapsed":1.9}
{"Action":"output","Package":"q","Test":"TestHung","Output":"panic: test timed out\n"}
{"Action":"output","Package":"q","Output":"FAIL\tq\t600s\n"}
{"Action":"fail","Package":"q","Elapsed":600}
# q: build failed, not JSON
`

func TestReportShowsFailuresSkipsAndTheSlowest(t *testing.T) {
	var out strings.Builder
	failed, err := report(strings.NewReader(stream), &out, 10)
	if err != nil || !failed {
		t.Fatalf("failed=%v err=%v", failed, err)
	}
	got := out.String()
	for _, want := range []string{"bad_test.go:3: boom", "SKIPPED: run scripts/deps.sh", "FAIL\tp\t1.9s", "panic: test timed out", "# q: build failed", "1.5s  p TestOK"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "ok noise") {
		t.Errorf("a passing test's output is shown:\n%s", got)
	}
}

func TestAllPassingIsNotAFailure(t *testing.T) {
	var out strings.Builder
	failed, err := report(strings.NewReader(`{"Action":"pass","Package":"p","Test":"T","Elapsed":1}`+"\n"), &out, 10)
	if err != nil || failed {
		t.Fatalf("failed=%v err=%v", failed, err)
	}
}
