// Package stack starts the processes of a wasmesh mesh on one machine from the wasmesh binary — the embedded
// registry, the operator in directory mode, proxies connected to it over xDS — and stops every one of them,
// children included, when asked. The demo and the end-to-end tests use it, so both run the real binaries on
// loopback the way a user would.
//
//	s := stack.New("bin/wasmesh", workDir)
//	defer s.StopAll()
//	reg, _ := s.Registry(ctx)
//	digest, _ := s.Push(ctx, "bin/filters/auth.wasm", reg+"/wasmesh/auth:v1")
//	op, _ := s.Operator(ctx, reg)
//	px, _ := s.Proxy(ctx, stack.ProxyOptions{Name: "proxy-a", Base: baseYAML, XDS: op.XDSAddr, Labels: "app=greeter"})
package stack

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Stack is the set of processes started from one wasmesh binary, with their logs in one directory.
type Stack struct {
	binary string
	dir    string

	mu    sync.Mutex
	procs []*Process
}

// New returns a stack that runs binary and keeps logs and state under dir, which must exist.
func New(binary, dir string) *Stack { return &Stack{binary: binary, dir: dir} }

// Dir is the directory holding the logs and state of the stack's processes.
func (s *Stack) Dir() string { return s.dir }

// Binary is the wasmesh executable the stack runs.
func (s *Stack) Binary() string { return s.binary }

// Process is a child the stack started; its output goes to Log.
type Process struct {
	Name string
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	runs int // how many times this command was started, for Restart's log names
}

// Start runs the wasmesh binary with args as a named child. The child gets its own process group so stopping
// it also stops anything it started.
func (s *Stack) Start(name string, args ...string) (*Process, error) {
	return s.StartCommand(name, s.binary, args...)
}

// StartCommand runs any executable (a Dubbo provider, a Node client) as a named child of the stack.
func (s *Stack) StartCommand(name, exe string, args ...string) (*Process, error) {
	return s.startRun(name, 1, exe, args)
}

// Restart stops p and starts its command again as a new process, logging to NAME.N.log, so the earlier log
// stays for a post-mortem.
func (s *Stack) Restart(p *Process) (*Process, error) {
	p.Stop(5 * time.Second)
	return s.startRun(p.Name, p.runs+1, p.cmd.Path, p.cmd.Args[1:])
}

func (s *Stack) startRun(name string, run int, exe string, args []string) (*Process, error) {
	logPath := filepath.Join(s.dir, name+".log")
	if run > 1 {
		logPath = filepath.Join(s.dir, fmt.Sprintf("%s.%d.log", name, run))
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s %s: %w", exe, strings.Join(args, " "), err)
	}
	p := &Process{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{}), runs: run}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Stop ends p: SIGTERM to its group so it can drain, then SIGKILL after grace.
func (p *Process) Stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// StopAll stops every process the stack started, all at once, and waits for them.
func (s *Stack) StopAll() {
	s.mu.Lock()
	procs := s.procs
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.Stop(5 * time.Second) }()
	}
	wg.Wait()
}

// WaitForLine waits until the process's log has a line containing marker and returns that line.
func (p *Process) WaitForLine(ctx context.Context, marker string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(p.Log); err == nil {
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				if strings.Contains(sc.Text(), marker) {
					return sc.Text(), nil
				}
			}
		}
		select {
		case <-p.done:
			return "", fmt.Errorf("%s exited before it was ready (%v); see %s", p.Name, p.err, p.Log)
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s not ready after %s; see %s", p.Name, timeout, p.Log)
		}
	}
}

// CLI runs one wasmesh command to completion and returns its standard output.
func (s *Stack) CLI(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("wasmesh %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// DumpLogs writes the last lines of each process's log to w, where the cause of a failure usually is.
func (s *Stack) DumpLogs(w io.Writer, lines int) {
	s.mu.Lock()
	procs := s.procs
	s.mu.Unlock()
	for _, p := range procs {
		b, err := os.ReadFile(p.Log)
		if err != nil || len(b) == 0 {
			continue
		}
		all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(all) > lines {
			all = all[len(all)-lines:]
		}
		fmt.Fprintf(w, "\n--- last lines of %s ---\n%s\n", p.Log, strings.Join(all, "\n"))
	}
}

// FreeAddr returns a loopback address whose port was free a moment ago: for processes whose addresses are
// written into their flags or configuration before they start and cannot report a port 0 back.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
