// Package cli implements the wasmesh command: one cobra command per file, wired together in NewRootCommand.
//
//	code := cli.Run(ctx, []string{"build", "./filters/auth"}, os.Stdin, os.Stdout, os.Stderr)
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Streams are the standard streams a command reads and writes; tests pass buffers.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// NewRootCommand returns the wasmesh command with every subcommand attached.
func NewRootCommand(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:           "wasmesh",
		Short:         "Build, ship and run proxy-wasm filters for HTTP and Dubbo service meshes",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.AddCommand(
		newVersionCommand(s),
		newBuildCommand(s),
		newInspectCommand(s),
		newPushCommand(s),
		newPullCommand(s),
		newLoginCommand(s),
		newLogoutCommand(s),
		newRegistryCommand(s),
		newProxyCommand(s),
		newDemoCommand(s),
		newOperatorCommand(s),
		newDeployCommand(s),
		newUndeployCommand(s),
		newStatusCommand(s),
		newListCommand(s),
	)
	return root
}

// ExitError carries a specific exit code out of a command.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// Run executes the wasmesh command line and returns the process exit code.
func Run(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	root := NewRootCommand(Streams{In: in, Out: out, Err: errOut})
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(errOut, "wasmesh: %v\n", err)
		var ee *ExitError
		if errors.As(err, &ee) {
			return ee.Code
		}
		return 1
	}
	return 0
}
