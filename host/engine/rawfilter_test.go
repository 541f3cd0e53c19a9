package engine_test

// rawHeadersFilter assembles, byte by byte, a proxy-wasm module that does in plain wasm what the headers fixture
// does in Go: five proxy_get_header_map_value calls and one proxy_add_header_map_value per request. Its guest side
// costs next to nothing, so benchmarks on it measure the host: callback dispatch, host functions, allocator calls.
// proxy_on_request_body(ctx, n, eos) calls proxy_get_header_map_value n times, to time one host call.
// With abi010 it is an ABI 0.1.0 module instead: two-argument proxy_on_request_headers, the 0.1.0 version marker,
// and imports only 0.1.0 hosts had (proxy_continue_request, proxy_get_configuration).
func rawHeadersFilter() []byte { return rawFilter(false) }

// i32Const appends i32.const v (signed LEB128) to b.
func i32Const(b []byte, v int32) []byte {
	b = append(b, 0x41)
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// rawExport is an extra function of a raw filter: its type is an index into rawFilter's type list, its code the
// body's instructions without the final end.
type rawExport struct {
	name string
	typ  int
	code []byte
}

func rawFilter(abi010 bool, extra ...rawExport) []byte {
	const (
		i32  = 0x7f
		fn   = 0x60
		call = 0x10
		drop = 0x1a
	)
	uleb := func(b []byte, v uint32) []byte {
		for {
			c := byte(v & 0x7f)
			v >>= 7
			if v != 0 {
				b = append(b, c|0x80)
				continue
			}
			return append(b, c)
		}
	}
	i32c := i32Const
	section := func(out []byte, id byte, payload []byte) []byte {
		out = append(out, id)
		out = uleb(out, uint32(len(payload)))
		return append(out, payload...)
	}
	name := func(b []byte, s string) []byte { return append(uleb(b, uint32(len(s))), s...) }
	sig := func(params, results int) []byte {
		b := []byte{fn}
		b = uleb(b, uint32(params))
		for range params {
			b = append(b, i32)
		}
		b = uleb(b, uint32(results))
		for range results {
			b = append(b, i32)
		}
		return b
	}
	// Types.
	types := [][]byte{
		sig(5, 1), // 0: host functions get/add
		sig(1, 1), // 1: alloc, on_done
		sig(2, 0), // 2: context_create
		sig(3, 1), // 3: request/response headers and body
		sig(1, 0), // 4: on_log, on_delete
		sig(2, 1), // 5: vm_start, configure, trailers
		sig(0, 0), // 6: abi version marker
		sig(3, 1), // 7: proxy_on_request_headers (3 args from 0.2.0 on, 2 in 0.1.0)
		sig(0, 1), // 8: proxy_continue_request
	}
	marker := "proxy_abi_version_0_2_1"
	type imp struct {
		name string
		typ  int
	}
	imports := []imp{{"proxy_get_header_map_value", 0}, {"proxy_add_header_map_value", 0}}
	if abi010 {
		types[7] = sig(2, 1)
		marker = "proxy_abi_version_0_1_0"
		imports = append(imports, imp{"proxy_continue_request", 8}, imp{"proxy_get_configuration", 5})
	}
	// Data: keys at fixed offsets.
	type str struct {
		off int32
		s   string
	}
	keys := []str{{0, ":path"}, {8, ":method"}, {16, ":authority"}, {32, "user-agent"}, {48, "x-deny"}}
	addK, addV := str{80, "x-wasm"}, str{96, "seen"}
	respK, respV := str{112, "x-wasm-response"}, str{128, "1"}
	getValue := func(b []byte, k str) []byte { // proxy_get_header_map_value(0, k, len, 256, 260); drop
		b = i32c(b, 0)
		b = i32c(b, k.off)
		b = i32c(b, int32(len(k.s)))
		b = i32c(b, 256)
		b = i32c(b, 260)
		b = append(b, call, 0, drop)
		return b
	}
	addValue := func(b []byte, mt int32, k, v str) []byte {
		b = i32c(b, mt)
		b = i32c(b, k.off)
		b = i32c(b, int32(len(k.s)))
		b = i32c(b, v.off)
		b = i32c(b, int32(len(v.s)))
		b = append(b, call, 1, drop)
		return b
	}
	var reqHeaders []byte
	for _, k := range keys {
		reqHeaders = getValue(reqHeaders, k)
	}
	reqHeaders = addValue(reqHeaders, 0, addK, addV)
	reqHeaders = i32c(reqHeaders, 0)
	respHeaders := i32c(addValue(nil, 2, respK, respV), 0)
	// body: block loop (br_if 1 when local0 (n, param 1) == 0) get; n--; br 0 end end; return 0
	body := []byte{0x02, 0x40, 0x03, 0x40, 0x20, 0x01, 0x45, 0x0d, 0x01}
	body = getValue(body, keys[0])
	body = append(body, 0x20, 0x01)
	body = i32c(body, 1)
	body = append(body, 0x6b, 0x21, 0x01, 0x0c, 0x00, 0x0b, 0x0b)
	body = i32c(body, 0)

	funcs := []struct {
		export string
		typ    int
		code   []byte
	}{
		{"proxy_on_memory_allocate", 1, i32c(nil, 4096)}, // one scratch area: every result is read before the next
		{"proxy_on_context_create", 2, nil},
		{"proxy_on_vm_start", 5, i32c(nil, 1)},
		{"proxy_on_configure", 5, i32c(nil, 1)},
		{"proxy_on_request_headers", 7, reqHeaders},
		{"proxy_on_response_headers", 3, respHeaders},
		{"proxy_on_request_body", 3, body},
		{"proxy_on_request_trailers", 5, i32c(nil, 0)},
		{"proxy_on_done", 1, i32c(nil, 1)},
		{"proxy_on_log", 4, nil},
		{"proxy_on_delete", 4, nil},
		{marker, 6, nil},
	}
	for _, x := range extra {
		funcs = append(funcs, struct {
			export string
			typ    int
			code   []byte
		}{x.name, x.typ, x.code})
	}

	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	var p []byte
	p = uleb(p, uint32(len(types)))
	for _, t := range types {
		p = append(p, t...)
	}
	out = section(out, 1, p)

	p = uleb(nil, uint32(len(imports)))
	for _, imp := range imports {
		p = name(p, "env")
		p = name(p, imp.name)
		p = append(p, 0) // func
		p = uleb(p, uint32(imp.typ))
	}
	out = section(out, 2, p)

	p = uleb(nil, uint32(len(funcs)))
	for _, f := range funcs {
		p = uleb(p, uint32(f.typ))
	}
	out = section(out, 3, p)
	out = section(out, 5, []byte{1, 0, 1}) // one memory, min 1 page

	p = uleb(nil, uint32(len(funcs)+1))
	p = append(name(p, "memory"), 2, 0)
	for i, f := range funcs {
		p = append(name(p, f.export), 0)
		p = uleb(p, uint32(i+len(imports))) // functions are numbered after the imports
	}
	out = section(out, 7, p)

	p = uleb(nil, uint32(len(funcs)))
	for _, f := range funcs {
		code := append([]byte{0}, f.code...) // no locals
		code = append(code, 0x0b)
		p = uleb(p, uint32(len(code)))
		p = append(p, code...)
	}
	out = section(out, 10, p)

	var data []byte
	for _, s := range append(keys, addK, addV, respK, respV) {
		for len(data) < int(s.off) {
			data = append(data, 0)
		}
		data = append(data, s.s...)
	}
	p = uleb(nil, 1)
	p = append(p, 0) // active, memory 0
	p = i32c(p, 0)
	p = append(p, 0x0b)
	p = uleb(p, uint32(len(data)))
	p = append(p, data...)
	return section(out, 11, p)
}
