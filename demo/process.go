package demo

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// process is a child the demo started; its output goes to a log file in the work directory.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
}

// start runs the wasmesh binary with args as a named child process. The child gets its own process group so
// that stopping it also stops anything it started, and it is stopped with SIGTERM first so it can drain.
func (d *run) start(ctx context.Context, name string, args ...string) (*process, error) {
	logPath := filepath.Join(d.opts.WorkDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(d.opts.Binary, args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s %s: %w", d.opts.Binary, strings.Join(args, " "), err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	d.procs = append(d.procs, p)
	return p, nil
}

// stop ends p: SIGTERM to its group, then SIGKILL if it has not exited within the grace period.
func (p *process) stop(grace time.Duration) {
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

// stopAll stops every child and the in-process upstream, newest first.
func (d *run) stopAll() {
	var wg sync.WaitGroup
	for i := len(d.procs) - 1; i >= 0; i-- {
		wg.Add(1)
		go func(p *process) { defer wg.Done(); p.stop(5 * time.Second) }(d.procs[i])
	}
	wg.Wait()
	if d.echo != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = d.echo.Shutdown(ctx)
		cancel()
	}
}

// waitForLine waits until the process's log has a line containing marker and returns that line.
func (p *process) waitForLine(ctx context.Context, marker string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(p.log); err == nil {
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				if strings.Contains(sc.Text(), marker) {
					return sc.Text(), nil
				}
			}
		}
		select {
		case <-p.done:
			return "", fmt.Errorf("%s exited before it was ready (%v); see %s", p.name, p.err, p.log)
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("%s not ready after %s; see %s", p.name, timeout, p.log)
		}
	}
}

// cli runs one wasmesh command to completion and returns its standard output.
func (d *run) cli(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.opts.Binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("wasmesh %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// printLogsOnFailure shows the tail of each child's log, where the cause of a failure usually is.
func (d *run) printLogsOnFailure() {
	for _, p := range d.procs {
		b, err := os.ReadFile(p.log)
		if err != nil || len(b) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		fmt.Fprintf(d.out, "\n--- last lines of %s ---\n", p.log)
		io.WriteString(d.out, strings.Join(lines, "\n")+"\n")
	}
}
