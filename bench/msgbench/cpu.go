package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's utime and stime
// (100 on every Linux this runs on).
const clockTicks = 100

// cpuSample is the CPU time (user + system) every process had used at one
// moment, grouped by what the process is.
type cpuSample map[int]procCPU

type procCPU struct {
	role  string
	ticks int64
}

// sampleCPU reads every process of this machine. Processes that are not
// part of the benchmark fall under "other".
func sampleCPU() cpuSample {
	s := cpuSample{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(dir + "/stat")
		if err != nil {
			continue
		}
		// The command name is in parentheses and may hold spaces: fields
		// count from the last ')'.
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
		f := strings.Fields(rest)
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		cmdline, _ := os.ReadFile(dir + "/cmdline")
		s[pid] = procCPU{role: roleOf(pid, strings.ReplaceAll(string(cmdline), "\x00", " ")), ticks: utime + stime}
	}
	return s
}

// roleOf names a process by its command line.
func roleOf(pid int, cmdline string) string {
	switch {
	case pid == os.Getpid():
		return "submitter + envelope reader (msgbench)"
	case strings.Contains(cmdline, natsServeFlag):
		return "NATS server (JetStream)"
	case strings.Contains(cmdline, " serve "):
		return "worker replicas (serve)"
	case strings.Contains(cmdline, " emulator "):
		return "signing-server emulator"
	case strings.Contains(cmdline, "beam.smp"), strings.Contains(cmdline, "erl_child_setup"), strings.Contains(cmdline, "epmd"):
		return "RabbitMQ"
	case cmdline == "":
		return "kernel (softirq, network)"
	}
	return "other"
}

// cpuBreakdown is the CPU seconds each role used between two samples,
// including processes that started after the first one.
func cpuBreakdown(before, after cpuSample) map[string]float64 {
	out := map[string]float64{}
	for pid, a := range after {
		used := a.ticks - before[pid].ticks
		if used > 0 {
			out[a.role] += float64(used) / clockTicks
		}
	}
	return out
}

// printBreakdown prints one Markdown table row per role: CPU seconds and
// the CPU cost per task in milliseconds.
func printBreakdown(title string, cpu map[string]float64, tasks int) {
	roles := make([]string, 0, len(cpu))
	total := 0.0
	for r, s := range cpu {
		roles = append(roles, r)
		total += s
	}
	sort.Slice(roles, func(i, j int) bool { return cpu[roles[i]] > cpu[roles[j]] })
	fmt.Printf("\n| %s: process | CPU s | CPU ms per task | share |\n|---|---:|---:|---:|\n", title)
	for _, r := range roles {
		fmt.Printf("| %s | %.2f | %.2f | %.0f%% |\n", r, cpu[r], 1000*cpu[r]/float64(tasks), 100*cpu[r]/total)
	}
	fmt.Printf("| **all** | %.2f | %.2f | 100%% |\n", total, 1000*total/float64(tasks))
}
