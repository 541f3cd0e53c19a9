package stack

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// Target is where a load sends requests, and the status every answer must have.
type Target struct {
	Name   string // how counts are reported, e.g. the proxy's name
	URL    string
	Header http.Header
	Want   int
}

// Counts are the answers one target gave under load.
type Counts struct {
	OK, Failed   int64
	FirstFailure string // the first unexpected status or error
}

// Load keeps clients busy on several targets until stopped, counting each target's answers apart, so a test
// can tell failures on a canary proxy from failures elsewhere.
type Load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stats  []*targetStats
	client *http.Client
}

type targetStats struct {
	ok, failed atomic.Int64
	first      atomic.Value
}

// StartLoad starts workers clients per target; they run until Stop or ctx ends.
func StartLoad(ctx context.Context, targets []Target, workers int) *Load {
	ctx, cancel := context.WithCancel(ctx)
	l := &Load{cancel: cancel, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}}
	for _, t := range targets {
		st := &targetStats{}
		l.stats = append(l.stats, st)
		for range workers {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.drive(ctx, t, st)
			}()
		}
	}
	return l
}

func (l *Load) drive(ctx context.Context, t Target, st *targetStats) {
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.URL, nil)
		for k, v := range t.Header {
			req.Header[k] = v
		}
		resp, err := l.client.Do(req)
		if ctx.Err() != nil {
			return // stopped mid-request: not the proxy's failure
		}
		if err != nil {
			st.failed.Add(1)
			st.first.CompareAndSwap(nil, err.Error())
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == t.Want {
			st.ok.Add(1)
		} else {
			st.failed.Add(1)
			st.first.CompareAndSwap(nil, resp.Status)
		}
	}
}

// Counts returns the answers so far, in the order of the targets.
func (l *Load) Counts() []Counts {
	out := make([]Counts, len(l.stats))
	for i, st := range l.stats {
		out[i] = Counts{OK: st.ok.Load(), Failed: st.failed.Load()}
		if f, _ := st.first.Load().(string); f != "" {
			out[i].FirstFailure = f
		}
	}
	return out
}

// Stop ends the load, waits for its clients and returns the final counts.
func (l *Load) Stop() []Counts {
	l.cancel()
	l.wg.Wait()
	l.client.CloseIdleConnections()
	return l.Counts()
}
