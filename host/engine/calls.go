package engine

import (
	"context"
	"strconv"
	"time"

	"github.com/wasmesh/wasmesh/host/abi"
)

// Caller sends the HTTP calls modules make with proxy_http_call. The data plane implements it with its clusters.
// The response comes back to the module on the VM and root context that made the call.
type Caller interface {
	// HTTPCall sends one request to cluster and waits for the whole response (":status" among its headers).
	// ctx carries the module's timeout.
	HTTPCall(ctx context.Context, cluster string, headers abi.Headers, body []byte, trailers abi.Headers, timeout time.Duration) (*CallResponse, error)
}

// CallResponse is the answer to an HTTP call.
type CallResponse struct {
	Headers  abi.Headers
	Body     []byte
	Trailers abi.Headers
}

// GRPCCaller is the optional gRPC side of a Caller: a Caller that also implements it serves proxy_grpc_call.
type GRPCCaller interface {
	GRPCCall(ctx context.Context, cluster, service, method string, metadata abi.Headers, msg []byte, timeout time.Duration) (*GRPCResponse, error)
}

// GRPCResponse is the answer to a unary gRPC call. Status is the gRPC status code (0 OK).
type GRPCResponse struct {
	InitialMetadata  abi.Headers
	Message          []byte
	TrailingMetadata abi.Headers
	Status           uint32
	StatusMessage    string
}

func msDuration(ms uint32) time.Duration { return time.Duration(ms) * time.Millisecond }

// HTTPCall implements abi.Host: the call runs on its own goroutine and its response is delivered with
// proxy_on_http_call_response to the calling root context, under the VM lock.
func (v *vm) HTTPCall(upstream []byte, headers abi.Headers, body []byte, trailers abi.Headers, timeoutMillis uint32) (uint32, abi.Status) {
	caller := v.eng.cfg.Caller
	if caller == nil || len(upstream) == 0 || v.cur == nil {
		return 0, abi.StatusBadArgument
	}
	v.nextCallout++
	id := v.nextCallout
	root := v.cur.root
	cluster, b := string(upstream), append([]byte(nil), body...)
	timeout := msDuration(timeoutMillis)
	go func() {
		ctx, cancel := context.WithTimeout(v.ctx, timeout)
		resp, err := caller.HTTPCall(ctx, cluster, headers, b, trailers, timeout)
		cancel()
		if err != nil {
			v.eng.log.Debug("wasm http call failed", "cluster", cluster, "error", err)
			resp = nil // delivered as a response with no headers and no body, as Envoy does
		}
		v.deliverHTTP(root, id, resp)
	}()
	return id, abi.StatusOK
}

func (v *vm) deliverHTTP(root *ctxState, id uint32, resp *CallResponse) {
	if v.acquire(context.Background()) != nil {
		return
	}
	defer v.release()
	if v.dead.Load() || v.contexts[root.id] != root {
		return
	}
	var nh, nb, nt int
	v.status, v.statusMsg = 0, ""
	if resp != nil {
		nh, nb, nt = len(resp.Headers), len(resp.Body), len(resp.Trailers)
		if s, ok := resp.Headers.Get(":status"); ok {
			n, _ := strconv.Atoi(s)
			v.status = uint32(n)
		}
	} else {
		v.status, v.statusMsg = 503, "call failed"
	}
	v.callResp = resp
	_, _ = v.call(root, cbHTTPCallResponse, uint64(root.id), uint64(id), uint64(nh), uint64(nb), uint64(nt))
	v.callResp = nil
}

// GRPCCall implements abi.Host for unary calls when the Caller also implements GRPCCaller. The response arrives as
// proxy_on_grpc_receive_initial_metadata, proxy_on_grpc_receive, proxy_on_grpc_receive_trailing_metadata and
// proxy_on_grpc_close, in that order.
func (v *vm) GRPCCall(upstream, service, method []byte, md abi.Headers, msg []byte, timeoutMillis uint32) (uint32, abi.Status) {
	gc, ok := v.eng.cfg.Caller.(GRPCCaller)
	if !ok || len(upstream) == 0 || v.cur == nil {
		return 0, abi.StatusBadArgument
	}
	v.nextCallout++
	id := v.nextCallout
	root := v.cur.root
	cluster, svc, m, body := string(upstream), string(service), string(method), append([]byte(nil), msg...)
	timeout := msDuration(timeoutMillis)
	ctx, cancel := context.WithTimeout(v.ctx, timeout)
	v.pendingGRPC[id] = cancel
	go func() {
		resp, err := gc.GRPCCall(ctx, cluster, svc, m, md, body, timeout)
		cancel()
		if err != nil {
			resp = &GRPCResponse{Status: 14, StatusMessage: err.Error()} // UNAVAILABLE
		}
		v.deliverGRPC(root, id, resp)
	}()
	return id, abi.StatusOK
}

func (v *vm) deliverGRPC(root *ctxState, id uint32, resp *GRPCResponse) {
	if v.acquire(context.Background()) != nil {
		return
	}
	defer v.release()
	if _, pending := v.pendingGRPC[id]; !pending || v.dead.Load() || v.contexts[root.id] != root {
		return // cancelled, closed, or the plugin is gone
	}
	delete(v.pendingGRPC, id)
	v.grpcResp = resp
	defer func() { v.grpcResp = nil }()
	rid, tok := uint64(root.id), uint64(id)
	if len(resp.InitialMetadata) > 0 {
		if _, err := v.call(root, cbGRPCInitialMetadata, rid, tok, uint64(len(resp.InitialMetadata)), 0, 0); err != nil && err != errMissingCallback {
			return
		}
	}
	if resp.Status == 0 {
		if _, err := v.call(root, cbGRPCReceive, rid, tok, uint64(len(resp.Message)), 0, 0); err != nil && err != errMissingCallback {
			return
		}
	}
	if len(resp.TrailingMetadata) > 0 {
		if _, err := v.call(root, cbGRPCTrailingMetadata, rid, tok, uint64(len(resp.TrailingMetadata)), 0, 0); err != nil && err != errMissingCallback {
			return
		}
	}
	v.status, v.statusMsg = resp.Status, resp.StatusMessage
	_, _ = v.call(root, cbGRPCClose, rid, tok, uint64(resp.Status), 0, 0)
}

// GRPCCancel drops a pending unary call or resets a stream: no callback will follow.
func (v *vm) GRPCCancel(token uint32) abi.Status {
	if st := v.grpcStreams[token]; st != nil {
		v.endStream(token, st)
		st.stream.Cancel()
		return abi.StatusOK
	}
	cancel, ok := v.pendingGRPC[token]
	if !ok {
		return abi.StatusNotFound
	}
	delete(v.pendingGRPC, token)
	cancel()
	return abi.StatusOK
}

// GRPCClose half-closes a stream (the module sends no more; responses still arrive), or cancels a unary call.
func (v *vm) GRPCClose(token uint32) abi.Status {
	st := v.grpcStreams[token]
	if st == nil {
		return v.GRPCCancel(token)
	}
	if !st.localClosed {
		st.localClosed = true
		if err := st.stream.CloseSend(); err != nil {
			v.eng.log.Debug("wasm grpc stream close failed", "error", err)
		}
	}
	return abi.StatusOK
}
