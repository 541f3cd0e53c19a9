// Package filter is the one interface every filter of the data plane implements, native Go and Wasm alike, and
// the chain that runs them in phase and priority order.
//
// A Filter receives proxy-wasm shaped callbacks for one stream (request headers, body, trailers, response
// headers, body, trailers, done) and answers Continue or Pause; a local reply is sent through
// Stream.SendLocalResponse. Filters declare what they need with Wants, so bodies pass through filters (chunk by
// chunk, with proxy-wasm's buffering: see Chain.RequestData) only when some filter asked for them, and stateless
// filters allocate nothing per stream.
//
// Filter kinds are not global: each filter package offers a Kind (a name and a constructor) and the program that
// starts the proxy passes them to NewRegistry. Adding a native filter never touches the proxy core.
//
//	reg, _ := filter.NewRegistry(header.Kind(), apikey.Kind())
//	f, _ := reg.Build(ctx, filter.Spec{Name: "greet", Kind: "header", Config: []byte(`{"request_set":{"x-a":"1"}}`)})
//	chain := filter.NewChain([]filter.Entry{{Name: "greet", Kind: "header", Filter: f}})
//	s := filter.NewStream()
//	s.Reset(ctx, reqHeaders, info)
//	if !chain.RequestHeaders(s, false) { /* reply with s.LocalResponse() */ }
package filter
