package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

// inspectRef describes a module in an OCI registry. Placeholder until the OCI package lands: it reports plainly
// that only files can be inspected.
func inspectRef(_ *cobra.Command, _ Streams, ref string, _ bool) error {
	return fmt.Errorf("%s: no such file, and registry references are not supported by this build yet", ref)
}
