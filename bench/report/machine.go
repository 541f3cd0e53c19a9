package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where the run happened. The load averages before and after say how much the other users of a
// shared machine were competing for it.
type Machine struct {
	CPUModel   string     `json:"cpu_model"`
	Cores      int        `json:"cores"`
	MemoryGiB  float64    `json:"memory_gib"`
	Kernel     string     `json:"kernel"`
	OS         string     `json:"os"`
	GoVersion  string     `json:"go_version"`
	LoadBefore [3]float64 `json:"load_before"`
	LoadAfter  [3]float64 `json:"load_after"`
}

func describeMachine(ctx context.Context) Machine {
	m := Machine{
		CPUModel:   procField("/proc/cpuinfo", "model name"),
		Cores:      runtime.NumCPU(),
		Kernel:     readTrim("/proc/sys/kernel/osrelease"),
		OS:         runtime.GOOS + "/" + runtime.GOARCH,
		LoadBefore: loadAverage(),
	}
	if kb, err := strconv.ParseFloat(strings.Fields(procField("/proc/meminfo", "MemTotal") + " 0")[0], 64); err == nil {
		m.MemoryGiB = kb / (1 << 20)
	}
	// The toolchain that builds the benchmarks, not the one that built this command (usually the same).
	if out, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		m.GoVersion = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	return m
}

// procField returns the value of the first "key : value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func loadAverage() [3]float64 {
	var l [3]float64
	for i, f := range strings.Fields(readTrim("/proc/loadavg")) {
		if i == 3 {
			break
		}
		l[i], _ = strconv.ParseFloat(f, 64)
	}
	return l
}

func gitCommit(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
