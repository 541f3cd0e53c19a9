package engine

// SkippedCallbacks names the callbacks a stream will not call because its guest declared them no-ops
// (ExportSkipCallbacks), in callback order.
func SkippedCallbacks(s *HTTPStream) []string {
	var names []string
	for cb, name := range callbackNames {
		if s.skip&(1<<cb) != 0 {
			names = append(names, name)
		}
	}
	return names
}
