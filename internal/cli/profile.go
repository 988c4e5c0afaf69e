package cli

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"

	"github.com/spf13/cobra"
)

// profiling writes pprof profiles of one command run, for bench/ and for
// whoever chases a cost centre: --cpu-profile covers the whole run,
// --heap-profile is the live heap at its end (after a GC) and
// --allocs-profile every allocation made. Hidden: a tool for contributors.
type profiling struct {
	cpu, heap, allocs string
	cpuFile           *os.File
}

func (p *profiling) register(root *cobra.Command) {
	fl := root.PersistentFlags()
	fl.StringVar(&p.cpu, "cpu-profile", "", "write a pprof CPU profile of the run to this file")
	fl.StringVar(&p.heap, "heap-profile", "", "write a pprof heap profile at the end of the run to this file")
	fl.StringVar(&p.allocs, "allocs-profile", "", "write a pprof profile of every allocation of the run to this file")
	for _, name := range []string{"cpu-profile", "heap-profile", "allocs-profile"} {
		_ = fl.MarkHidden(name)
	}
}

func (p *profiling) start() error {
	if p.cpu == "" {
		return nil
	}
	f, err := os.Create(p.cpu)
	if err != nil {
		return &exitError{code: ExitUsage, msg: "--cpu-profile: " + err.Error()}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return &exitError{code: ExitUsage, msg: "--cpu-profile: " + err.Error()}
	}
	p.cpuFile = f
	return nil
}

// stop ends the CPU profile and writes the others; it runs whatever the
// command's outcome.
func (p *profiling) stop() error {
	if p.cpuFile != nil {
		pprof.StopCPUProfile()
		if err := p.cpuFile.Close(); err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		p.cpuFile = nil
	}
	for _, w := range []struct{ flag, path, profile string }{
		{"--heap-profile", p.heap, "heap"},
		{"--allocs-profile", p.allocs, "allocs"},
	} {
		if w.path == "" {
			continue
		}
		runtime.GC()
		if err := writeProfile(w.path, w.profile); err != nil {
			return fmt.Errorf("%s: %w", w.flag, err)
		}
	}
	return nil
}

func writeProfile(path, name string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
