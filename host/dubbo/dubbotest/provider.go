// Package dubbotest is a real Dubbo 2 provider and a direct client for tests and the demo. Both encode and
// decode values with github.com/apache/dubbo-go-hessian2, an implementation independent of package dubbo's
// decoder, so a test that passes through the proxy checks the proxy against it.
//
// The provider serves GreetingService (also under the name org.example.GreetingService that the sample routing
// configuration uses) in a version label of your choice, so routing shows in the answer:
//
//	ln, _ := net.Listen("tcp", "127.0.0.1:0")
//	p := dubbotest.NewProvider(dubbotest.ProviderConfig{Label: "v2"})
//	go p.Serve(ctx, ln)
//	c, _ := dubbotest.Dial(ctx, ln.Addr().String())
//	res, _ := c.Call(ctx, dubbotest.Greet("Alice")) // res.Value == "hello Alice from v2"
package dubbotest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	h2 "github.com/apache/dubbo-go-hessian2"
	"github.com/apache/dubbo-go-hessian2/java_exception"

	"github.com/wasmesh/wasmesh/host/dubbo"
	"github.com/wasmesh/wasmesh/host/dubbo/downstream"
)

// GreetingService is the sample interface. Its methods:
//
//	greet(String name) String          "hello <name> from <label>"
//	sayHello(String name) String       the same as greet
//	sayGoodbye(String name) String     "goodbye <name> from <label>"
//	sum(int a, int b) int
//	attachment(String key) String      the value of a request attachment, or null: shows what filters changed
//	sleep(int ms) String               answers after ms milliseconds: for timeouts
//	fail(String message)               throws an exception with message
const GreetingService = "org.apache.dubbo.samples.GreetingService"

// ExampleGreetingService is the name the sample routing configuration (samples/filters/dubbo-routing.json) uses
// for the same interface; the provider serves both names unless told otherwise.
const ExampleGreetingService = "org.example.GreetingService"

// ProviderConfig configures a provider. Zero fields take the defaults in parentheses.
type ProviderConfig struct {
	Label string // shown in greet answers and as the "provider" response attachment ("v1")
	// ServiceVersion, when set, is the only service version served; other versions get 60 SERVICE_NOT_FOUND,
	// as a Java provider answers.
	ServiceVersion string
	// Services are the interface names served, all with GreetingService's methods
	// ([GreetingService, ExampleGreetingService]).
	Services []string
	MaxBody  int          // (dubbo.DefaultMaxBody)
	Logger   *slog.Logger // (discard)
}

// Provider serves GreetingService over Dubbo 2 / hessian2.
type Provider struct {
	cfg ProviderConfig
}

// NewProvider returns a provider with cfg's defaults filled in.
func NewProvider(cfg ProviderConfig) *Provider {
	if cfg.Label == "" {
		cfg.Label = "v1"
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = dubbo.DefaultMaxBody
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if len(cfg.Services) == 0 {
		cfg.Services = []string{GreetingService, ExampleGreetingService}
	}
	cfg.Services = slices.Clone(cfg.Services)
	return &Provider{cfg: cfg}
}

// Serve accepts connections on ln until ctx ends, then closes ln and every connection. It returns nil after a
// clean stop. Each call runs on its own goroutine, as a real provider's thread pool does, so answers can come
// back out of order and a proxy must match them by id.
func (p *Provider) Serve(ctx context.Context, ln net.Listener) error {
	srv, err := downstream.New(downstream.Config{MaxBody: p.cfg.MaxBody, Logger: p.cfg.Logger},
		downstream.HandlerFunc(func(_ context.Context, h dubbo.Header, frame []byte) []byte {
			return p.handle(h, frame[dubbo.HeaderLen:])
		}))
	if err != nil {
		return err
	}
	if err := srv.Serve(ctx, ln); err != nil {
		return fmt.Errorf("dubbotest provider: %w", err)
	}
	return nil
}

// call is a decoded invocation.
type call struct {
	dubboVersion, service, version, method string
	args                                   []any
	attachments                            map[string]string
}

func decodeCall(body []byte) (call, error) {
	d := h2.NewDecoder(body)
	var c call
	var lead [5]string
	for i := range lead {
		v, err := d.Decode()
		if err != nil {
			return c, fmt.Errorf("decode request field %d: %w", i, err)
		}
		s, _ := v.(string)
		lead[i] = s
	}
	c.dubboVersion, c.service, c.version, c.method = lead[0], lead[1], lead[2], lead[3]
	for range h2.DescRegex.FindAllString(lead[4], -1) {
		v, err := d.Decode()
		if err != nil {
			return c, fmt.Errorf("decode argument: %w", err)
		}
		c.args = append(c.args, v)
	}
	c.attachments = map[string]string{}
	if m, err := d.Decode(); err == nil {
		if mm, ok := m.(map[any]any); ok {
			for k, v := range mm {
				ks, kok := k.(string)
				vs, vok := v.(string)
				if kok && vok {
					c.attachments[ks] = vs
				}
			}
		}
	}
	return c, nil
}

// handle runs one call and returns the response frame.
func (p *Provider) handle(h dubbo.Header, body []byte) []byte {
	c, err := decodeCall(body)
	if err != nil {
		return dubbo.AppendErrorResponse(nil, h.ID, dubbo.StatusBadRequest, "dubbotest provider: "+err.Error())
	}
	// Java providers look the exporter up by the path attachment when there is one.
	service := c.service
	if v, ok := c.attachments["path"]; ok {
		service = v
	}
	version := c.version
	if v, ok := c.attachments["version"]; ok {
		version = v
	}
	if !slices.Contains(p.cfg.Services, service) || (p.cfg.ServiceVersion != "" && version != p.cfg.ServiceVersion) {
		return dubbo.AppendErrorResponse(nil, h.ID, dubbo.StatusServiceNotFound,
			fmt.Sprintf("Not found exported service: %s:%s (provider %s)", service, version, p.cfg.Label))
	}
	att := []dubbo.Attachment{{Key: "provider", Value: p.cfg.Label}}
	value, err := p.invoke(c)
	e := h2.NewEncoder()
	switch {
	case err != nil:
		if encErr := e.Encode(java_exception.NewThrowable(err.Error())); encErr != nil {
			return dubbo.AppendErrorResponse(nil, h.ID, dubbo.StatusServiceError, err.Error())
		}
		return dubbo.AppendResponse(nil, h.ID, c.dubboVersion, dubbo.ResultException, e.Buffer(), att)
	case value == nil:
		return dubbo.AppendResponse(nil, h.ID, c.dubboVersion, dubbo.ResultNull, nil, att)
	}
	if err := e.Encode(value); err != nil {
		return dubbo.AppendErrorResponse(nil, h.ID, dubbo.StatusServiceError, err.Error())
	}
	return dubbo.AppendResponse(nil, h.ID, c.dubboVersion, dubbo.ResultValue, e.Buffer(), att)
}

var errArgs = errors.New("wrong arguments")

func (p *Provider) invoke(c call) (any, error) {
	switch c.method {
	case "greet", "sayHello", "sayGoodbye":
		if len(c.args) == 1 {
			if name, ok := c.args[0].(string); ok {
				word := "hello "
				if c.method == "sayGoodbye" {
					word = "goodbye "
				}
				return word + name + " from " + p.cfg.Label, nil
			}
		}
	case "sum":
		if len(c.args) == 2 {
			a, aok := c.args[0].(int32)
			b, bok := c.args[1].(int32)
			if aok && bok {
				return a + b, nil
			}
		}
	case "attachment":
		if len(c.args) == 1 {
			if key, ok := c.args[0].(string); ok {
				if v, ok := c.attachments[key]; ok {
					return v, nil
				}
				return nil, nil
			}
		}
	case "sleep":
		if len(c.args) == 1 {
			if ms, ok := c.args[0].(int32); ok && ms >= 0 && ms <= 60_000 {
				time.Sleep(time.Duration(ms) * time.Millisecond)
				return fmt.Sprintf("slept %dms", ms), nil
			}
		}
	case "fail":
		if len(c.args) == 1 {
			if msg, ok := c.args[0].(string); ok {
				return nil, errors.New(msg)
			}
		}
	default:
		return nil, fmt.Errorf("no method %s in %s", c.method, c.service)
	}
	return nil, fmt.Errorf("%s: %w %v", c.method, errArgs, c.args)
}
