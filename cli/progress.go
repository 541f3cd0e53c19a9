package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// newProgress returns a callback drawing a progress bar on w when w is a terminal, and nil otherwise so scripts
// and CI logs stay quiet.
func newProgress(w io.Writer, label string) func(done, total int64) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	width := 30
	if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 60 {
		width = min(50, cols-40)
	}
	var last time.Time
	return func(done, total int64) {
		finished := total > 0 && done >= total
		if !finished && time.Since(last) < 100*time.Millisecond {
			return // redraw at most ten times a second
		}
		last = time.Now()
		fmt.Fprint(f, "\r"+renderBar(label, done, total, width))
		if finished {
			fmt.Fprintln(f)
		}
	}
}

// renderBar formats one line of the bar: "label [=====     ]  50% 2.5/5.0 MiB".
func renderBar(label string, done, total int64, width int) string {
	if total <= 0 {
		return fmt.Sprintf("%s %s", label, mib(done))
	}
	frac := min(float64(done)/float64(total), 1)
	filled := int(frac * float64(width))
	return fmt.Sprintf("%s [%s%s] %3.0f%% %s/%s", label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled),
		frac*100, mib(done), mib(total))
}

func mib(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
