// Command dubbo-provider serves the sample org.apache.dubbo.samples.GreetingService over Dubbo 2 / hessian2 for
// tests and the demo. The label shows in every answer, so routing between a v1 and a v2 provider is visible:
//
//	go run ./test/dubbo-provider -listen 127.0.0.1:20880 -label v2
//	# greet("Alice") -> "hello Alice from v2"; sayGoodbye("Alice") -> "goodbye Alice from v2"
//	# served as org.apache.dubbo.samples.GreetingService and org.example.GreetingService (see -services)
//
// It prints one line "dubbo-provider listening on <addr>" once it accepts connections (useful with port 0), and
// stops on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/wasmesh/wasmesh/host/dubbo/dubbotest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dubbo-provider:", err)
		os.Exit(1)
	}
}

// run parses args, listens and serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dubbo-provider", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:20880", "address to listen on (port 0 picks a free one)")
	label := fs.String("label", "v1", "version label shown in answers, e.g. v1 or v2")
	serviceVersion := fs.String("service-version", "", "serve only this service version (others get 60 SERVICE_NOT_FOUND); empty serves any")
	services := fs.String("services", dubbotest.GreetingService+","+dubbotest.ExampleGreetingService, "comma-separated interface names served, each with the GreetingService methods")
	verbose := fs.Bool("v", false, "log bad frames and connection errors to stderr")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another provider running? pick another -listen)", *listen, err)
	}
	fmt.Fprintf(stdout, "dubbo-provider listening on %s label %s\n", ln.Addr(), *label)
	p := dubbotest.NewProvider(dubbotest.ProviderConfig{Label: *label, ServiceVersion: *serviceVersion, Services: strings.Split(*services, ","), Logger: logger})
	return p.Serve(ctx, ln)
}
