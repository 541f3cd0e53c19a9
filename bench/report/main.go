// Command report runs wasmesh's benchmarks side by side in one run and writes bench/results/<date>.md, .json and
// .svg (<date>-quick.* for a quick run): the machine, every benchmark figure, and for each comparison the ratio of two figures measured in that same
// run (on a shared machine only ratios from one run mean anything).
//
// It is what `make bench` runs; from the repository root:
//
//	cd bench/report && go run . -root ../.. -quick     # ~3 minutes
//	cd bench/report && go run . -root ../..            # the full run, ~15 minutes
//	cd bench/report && go run . -root ../.. -only proxy,reload
//	cd bench/report && go run . -root ../.. -at HEAD    # a clean export of a commit, not the work tree
//
// The suites call the commands the benchmark write-ups (bench/*.md) name: `go test -bench` in host/engine,
// test/filters, filters/, host/dubbo and operator/controller, and bench/run-proxy.sh (HTTP) and bench/run-dubbo.sh
// (Dubbo) for the data plane; the hot-reload time is measured here, against bin/wasmesh. `go test -bench` output is read with
// golang.org/x/perf/benchfmt. A suite that fails is recorded in the report with its error; the others still run.
//
// This is a module of its own so that its one dependency (x/perf) does not move the versions the proxy and the
// operator build with.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		root    = flag.String("root", "../..", "wasmesh repository root")
		quick   = flag.Bool("quick", os.Getenv("BENCH_QUICK") == "1", "short benchmark times (~3 minutes); default from BENCH_QUICK=1")
		outDir  = flag.String("out", "", "directory for <date>.md/.json/.svg (default <root>/bench/results)")
		date    = flag.String("date", time.Now().UTC().Format("2006-01-02"), "date in the file names and the report")
		only    = flag.String("only", "", "comma-separated suites to run (default all): "+strings.Join(suiteNames(), ","))
		wasmesh = flag.String("wasmesh", "", "wasmesh binary for the proxy and reload suites (default <root>/bin/wasmesh)")
		commit  = flag.String("commit", "", "commit measured, for the report (default: git rev-parse HEAD in -root)")
		at      = flag.String("at", "", "measure this commit (e.g. HEAD) from a clean export instead of the work tree")
	)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	absRoot, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(absRoot, "host", "engine")); err != nil {
		return fmt.Errorf("-root %s is not the wasmesh repository (no host/engine): %w", absRoot, err)
	}
	if *outDir == "" {
		*outDir = filepath.Join(absRoot, "bench", "results")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *at != "" {
		dir, rev, remove, err := exportTree(ctx, absRoot, *at)
		if err != nil {
			return err
		}
		defer remove()
		log.Info("measuring a clean export", "commit", rev, "dir", dir)
		absRoot, *commit, *wasmesh = dir, rev, filepath.Join(dir, "bin", "wasmesh")
	}
	env := Env{Root: absRoot, Quick: *quick, Wasmesh: *wasmesh, Log: log}
	if env.Wasmesh == "" {
		env.Wasmesh = filepath.Join(absRoot, "bin", "wasmesh")
	}
	// The suites run commands from the root, so a path relative to here would point elsewhere.
	if env.Wasmesh, err = filepath.Abs(env.Wasmesh); err != nil {
		return err
	}
	selected, err := selectSuites(*only)
	if err != nil {
		return err
	}

	rep := &Report{Date: *date, Mode: mode(*quick), Started: time.Now().UTC(), Commit: *commit}
	if rep.Commit == "" {
		rep.Commit = gitCommit(absRoot)
	}
	rep.Machine = describeMachine(ctx)
	for _, s := range selected {
		if ctx.Err() != nil {
			break
		}
		log.Info("suite", "name", s.Name, "title", s.Title)
		start := time.Now()
		sec, err := s.Run(ctx, env)
		if sec == nil {
			sec = &Section{}
		}
		sec.Name, sec.Title = s.Name, s.Title
		sec.Seconds = time.Since(start).Seconds()
		if err != nil {
			sec.Error = err.Error()
			log.Error("suite failed; the report records it", "name", s.Name, "err", err)
		}
		rep.Sections = append(rep.Sections, *sec)
	}
	rep.Machine.LoadAfter = loadAverage()
	rep.Finished = time.Now().UTC()
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted; no report written")
	}
	files, err := rep.WriteFiles(*outDir)
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Println(f)
	}
	return nil
}

func mode(quick bool) string {
	if quick {
		return "quick"
	}
	return "full"
}

func selectSuites(only string) ([]Suite, error) {
	all := suites()
	if only == "" {
		return all, nil
	}
	var out []Suite
	for _, name := range strings.Split(only, ",") {
		i := slices.IndexFunc(all, func(s Suite) bool { return s.Name == strings.TrimSpace(name) })
		if i < 0 {
			return nil, fmt.Errorf("-only: unknown suite %q (known: %s)", name, strings.Join(suiteNames(), ", "))
		}
		out = append(out, all[i])
	}
	return out, nil
}

func suiteNames() []string {
	var names []string
	for _, s := range suites() {
		names = append(names, s.Name)
	}
	return names
}
