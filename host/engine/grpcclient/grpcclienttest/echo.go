// Package grpcclienttest runs a gRPC echo server on loopback for tests of modules' gRPC calls, through
// grpcclient or any other engine.GRPCStreamer.
//
//	addr := grpcclienttest.EchoServer(t) // "127.0.0.1:port", stopped when the test ends
package grpcclienttest

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/wasmesh/wasmesh/host/engine/grpcclient"
)

// EchoServer starts a gRPC server on loopback that serves any method with raw bytes: it sends initial metadata
// x-md=hello (plus the request's x-in, if any), answers each message with "echo:<msg>", and when the client
// half-closes sets trailer x-md=bye and ends with OK. Method "Fail" ends at once with PERMISSION_DENIED.
func EchoServer(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ForceServerCodec(grpcclient.RawCodec{}), grpc.UnknownServiceHandler(func(_ any, ss grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(ss)
		if strings.HasSuffix(method, "/Fail") {
			return status.Error(codes.PermissionDenied, "no")
		}
		hdr := metadata.Pairs("x-md", "hello")
		if in, ok := metadata.FromIncomingContext(ss.Context()); ok && len(in.Get("x-in")) > 0 {
			hdr.Set("x-in", in.Get("x-in")...)
		}
		if err := ss.SendHeader(hdr); err != nil {
			return err
		}
		for {
			var msg []byte
			if err := ss.RecvMsg(&msg); err != nil {
				if errors.Is(err, io.EOF) {
					ss.SetTrailer(metadata.Pairs("x-md", "bye"))
					return nil
				}
				return err
			}
			out := append([]byte("echo:"), msg...)
			if err := ss.SendMsg(&out); err != nil {
				return err
			}
		}
	}))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}
