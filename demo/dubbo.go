package demo

import (
	"context"
	"fmt"
	"strings"

	"github.com/wasmesh/wasmesh/host/dubbo/dubbotest"
)

// dubboUsers is how many x-user-id values the weighted route is shown with.
const dubboUsers = 20

// dubbo calls org.example.GreetingService through the first proxy's Dubbo listener, where the dubbo-routing
// filter the operator delivered (samples/wasmdeployments/dubbo-routing.yaml) picks the v1 or v2 provider; every
// answer names its provider.
func (d *run) dubbo(ctx context.Context) error {
	c, err := dubbotest.Dial(ctx, d.proxies[0].dubbo)
	if err != nil {
		return err
	}
	defer c.Close()
	call := func(method, arg string, attachments map[string]string) (string, error) {
		res, err := c.Call(ctx, dubbotest.Invocation{Service: dubbotest.ExampleGreetingService, Method: method,
			Args: []any{arg}, Attachments: attachments})
		if err != nil {
			return "", err
		}
		s, _ := res.Value.(string)
		return s, nil
	}
	cases := []struct {
		step, method, arg string
		attachments       map[string]string
		want              string
	}{
		{"sayGoodbye (routed by method)", "sayGoodbye", "Ann", nil, "goodbye Ann from v2"},
		{"greet with x-canary: true", "greet", "Ann", map[string]string{"x-canary": "true"}, "hello Ann from v2"},
		{"greet with x-canary-group: beta-testers", "greet", "Ann", map[string]string{"x-canary-group": "beta-testers", "x-user-id": "ann"}, "hello Ann from v2"},
		{"attachment the filter sets (x-routed-by)", "attachment", "x-routed-by", map[string]string{"x-user-id": "ann"}, "wasmesh"},
	}
	for _, tc := range cases {
		got, err := call(tc.method, tc.arg, tc.attachments)
		if err != nil {
			got = err.Error()
		}
		d.check("dubbo "+tc.step, tc.want, got, got == tc.want)
	}
	// The default route splits users 90/10 by a hash of x-user-id: each user stays on one version.
	on := map[string]int{}
	sticky := true
	for i := range dubboUsers {
		user := fmt.Sprintf("user-%02d", i)
		var versions []string
		for range 2 {
			got, err := call("greet", user, map[string]string{"x-user-id": user})
			if err != nil {
				return fmt.Errorf("greet %s: %w", user, err)
			}
			versions = append(versions, got[strings.LastIndex(got, " ")+1:])
		}
		sticky = sticky && versions[0] == versions[1]
		on[versions[0]]++
	}
	got := fmt.Sprintf("%d on v1, %d on v2", on["v1"], on["v2"])
	if !sticky {
		got += ", not sticky"
	}
	d.check(fmt.Sprintf("dubbo greet by %d users (x-user-id, 90/10)", dubboUsers), "most on v1, sticky", got,
		sticky && on["v1"] > on["v2"] && on["v1"]+on["v2"] == dubboUsers)
	return nil
}
