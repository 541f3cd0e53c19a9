package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAdminAPI(t *testing.T) {
	reg := testRegistry(t)
	h := startProxy(t, reg, "")
	h.stop()
	h.write("admin: {address: 127.0.0.1:0}\n" + h.config("v1"))
	h = startProxyAt(t, reg, h)
	admin := "http://" + h.srv.AdminAddr().String()

	resp, body := get(t, http.DefaultClient, admin+"/ready", nil)
	if resp.StatusCode != 200 || body != "ready\n" {
		t.Fatalf("/ready: %d %q", resp.StatusCode, body)
	}
	get(t, http.DefaultClient, h.base+"/x", map[string]string{"x-api-key": "k1"})
	_, body = get(t, http.DefaultClient, admin+"/stats/prometheus", nil)
	for _, want := range []string{
		`wasmesh_requests_total{code_class="2xx",listener="http",route="default"} 1`,
		`wasmesh_upstream_requests_total{cluster="a",result="2xx"} 1`,
		`wasmesh_filter_call_duration_seconds_count{filter="keys",listener="http"}`,
		`wasmesh_request_duration_seconds_bucket{listener="http",route="default"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/stats/prometheus lacks %s", want)
		}
	}
	_, body = get(t, http.DefaultClient, admin+"/filters", nil)
	var filters []FilterInfo
	if err := json.Unmarshal([]byte(body), &filters); err != nil || len(filters) != 4 {
		// three listener filters and the "open" route's own instance of tag
		t.Fatalf("/filters: %v %s", err, body)
	}
	_, body = get(t, http.DefaultClient, admin+"/config_dump", nil)
	var dump Dump
	if err := json.Unmarshal([]byte(body), &dump); err != nil || dump.Listeners[0].FilterChain[0].Phase != "AUTHN" {
		t.Fatalf("/config_dump: %v %s", err, body)
	}

	// A broken config is refused with the reason, and the old one keeps serving.
	h.write(strings.Replace(h.config("v2"), "cluster: a\n", "cluster: nope\n", 1))
	resp, err := http.Post(admin+"/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 422 || !strings.Contains(string(b), `unknown cluster \"nope\"`) {
		t.Fatalf("POST /reload with a bad config: %d %s", resp.StatusCode, b)
	}
	resp, _ = get(t, http.DefaultClient, h.base+"/x", map[string]string{"x-api-key": "k1"})
	if resp.Header.Get("X-Echo-X-Tag") != "v1" {
		t.Fatalf("old config not serving after a refused reload")
	}
	h.write("admin: {address: 127.0.0.1:0}\n" + h.config("v2"))
	if resp, _ = postEmpty(t, admin+"/reload"); resp.StatusCode != 200 {
		t.Fatalf("POST /reload: %d", resp.StatusCode)
	}
	resp, _ = get(t, http.DefaultClient, h.base+"/x", map[string]string{"x-api-key": "k1"})
	if resp.Header.Get("X-Echo-X-Tag") != "v2" {
		t.Fatalf("new config not serving after reload")
	}
	_, body = get(t, http.DefaultClient, admin+"/stats/prometheus", nil)
	if !strings.Contains(body, `wasmesh_config_reloads_total{result="error",trigger="admin"} 1`) {
		t.Errorf("reload error not counted")
	}
}

func TestWatchFile(t *testing.T) {
	reg := testRegistry(t)
	h := startProxy(t, reg, "")
	h.stop()
	h.watch = 10 * time.Millisecond
	h = startProxyAt(t, reg, h)
	h.write(h.config("watched"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, _ := get(t, http.DefaultClient, h.base+"/x", map[string]string{"x-api-key": "k1"})
		if resp.Header.Get("X-Echo-X-Tag") == "watched" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("file change not picked up in 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func postEmpty(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}
