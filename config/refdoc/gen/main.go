// Command gen writes config/reference.md (run by "go generate ./config").
package main

import (
	"fmt"
	"os"

	"github.com/release-engineering/pubtools-sign-go/config/refdoc"
)

func main() {
	src, err := os.ReadFile("config.go")
	if err == nil {
		var md string
		if md, err = refdoc.Markdown(src); err == nil {
			err = os.WriteFile("reference.md", []byte(md), 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "refdoc:", err)
		os.Exit(1)
	}
}
