//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasmesh/wasmesh/demo/stack"
)

// repo is the repository root, where `make test-e2e` leaves bin/.
const repo = "../.."

// newStack returns a stack on the binary `make build` writes; every process it starts is stopped at the end of
// the test, and on failure the tail of every log is printed.
func newStack(t *testing.T) *stack.Stack {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join(repo, "bin", "wasmesh"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("%v: run make build filters (make test-e2e does)", err)
	}
	s := stack.New(bin, t.TempDir())
	t.Cleanup(func() {
		s.StopAll()
		if t.Failed() {
			var b strings.Builder
			s.DumpLogs(&b, 40)
			t.Log(b.String())
		}
	})
	return s
}

// artifact returns the absolute path of a file `make build filters` writes under bin/.
func artifact(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(repo, "bin", rel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%v: run make build filters (make test-e2e does)", err)
	}
	return p
}

// echo starts an HTTP upstream that answers 200 with the consumer the proxy's filters named.
func echo(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream-Consumer", r.Header.Get("X-Wasmesh-Consumer"))
		json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path})
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// get returns the status of a GET on url with header k: v (none when k is empty).
func get(ctx context.Context, url, k, v string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if k != "" {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitMetric waits until the Prometheus text at url has an unlabelled sample of name at least want.
func waitMetric(ctx context.Context, url, name string, want float64, timeout time.Duration) error {
	return stack.Eventually(ctx, fmt.Sprintf("%s >= %g", name, want), timeout, func() (bool, string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, "", err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error(), nil
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			v, ok := strings.CutPrefix(sc.Text(), name+" ")
			if !ok {
				continue
			}
			got, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return false, "", fmt.Errorf("%s: %q: %w", url, sc.Text(), err)
			}
			return got >= want, sc.Text(), nil
		}
		return false, name + " not exposed yet", nil
	})
}
