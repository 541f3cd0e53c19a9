package filter_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/wasmesh/wasmesh/host/proxy/filter"
)

// requireUser is a native filter: it embeds filter.Base, asks only for request headers and answers 401 locally.
type requireUser struct{ filter.Base }

func (requireUser) Wants() filter.Wants { return filter.WantRequestHeaders }

func (requireUser) OnRequestHeaders(s *filter.Stream, _ bool) filter.Action {
	if s.RequestHeaders.Get("X-User") == "" {
		s.SendLocalResponse(http.StatusUnauthorized, nil, []byte("who are you?"), "no_user")
	}
	return filter.Continue
}

// A filter kind is a name and a constructor; the program lists its kinds once and the proxy builds chains from
// configuration with them.
func Example() {
	reg, _ := filter.NewRegistry(filter.Kind{Name: "require-user", New: func(context.Context, filter.Spec) (filter.Filter, error) {
		return requireUser{}, nil
	}})
	f, _ := reg.Build(context.Background(), filter.Spec{Name: "users", Kind: "require-user"})
	chain := filter.NewChain([]filter.Entry{{Name: "users", Kind: "require-user", Phase: filter.PhaseAuthn, Filter: f}})

	req, _ := http.NewRequest("GET", "http://svc/", nil)
	s := filter.NewStream()
	s.Reset(context.Background(), &filter.HTTPRequestHeaders{R: req}, filter.Info{})
	if !chain.RequestHeaders(s, true) {
		lr := s.LocalResponse()
		fmt.Println(lr.Status, string(lr.Body), "by", s.Info.LocalReplyBy)
	}
	// Output: 401 who are you? by users
}
