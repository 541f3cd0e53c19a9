package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wasmesh/wasmesh/oci"
)

func newLoginCommand(s Streams) *cobra.Command {
	var user, password string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login REGISTRY",
		Short: "Save credentials for a registry in the Docker config file (or its credential helper)",
		Long: `Check a user name and password against a registry and save them where docker and oras look too:
$DOCKER_CONFIG/config.json (default ~/.docker/config.json) or the credential helper it names.`,
		Example: `  echo "$TOKEN" | wasmesh login registry.local:5000 -u ci --password-stdin`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			host := args[0]
			if passwordStdin && password != "" {
				return errors.New("--password and --password-stdin are exclusive")
			}
			var err error
			switch {
			case passwordStdin:
				if password, err = readLine(s.In); err != nil {
					return fmt.Errorf("login %s: read password from stdin: %w", host, err)
				}
			case password == "":
				f, ok := s.In.(*os.File)
				if !ok || !term.IsTerminal(int(f.Fd())) {
					return fmt.Errorf("login %s: no password: pass --password-stdin and pipe it in", host)
				}
				if user == "" {
					fmt.Fprint(s.Err, "Username: ")
					if user, err = readLine(f); err != nil {
						return err
					}
				}
				fmt.Fprint(s.Err, "Password: ")
				b, err := term.ReadPassword(int(f.Fd()))
				fmt.Fprintln(s.Err)
				if err != nil {
					return err
				}
				password = string(b)
			}
			if password == "" {
				return fmt.Errorf("login %s: empty password", host)
			}
			store, err := oci.DockerCredentialStore()
			if err != nil {
				return err
			}
			c, err := registryClient(cmd, host)
			if err != nil {
				return err
			}
			if err := c.Login(cmd.Context(), store, host, user, password); err != nil {
				return err
			}
			_, err = fmt.Fprintf(s.Out, "Login to %s succeeded\n", host)
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&user, "username", "u", "", "user name (empty with a password means an identity token)")
	fs.StringVarP(&password, "password", "p", "", "password (visible in the process list: prefer --password-stdin)")
	fs.BoolVar(&passwordStdin, "password-stdin", false, "read the password from stdin")
	addRegistryFlags(fs)
	return cmd
}

func newLogoutCommand(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "logout REGISTRY",
		Short: "Remove saved credentials for a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := oci.DockerCredentialStore()
			if err != nil {
				return err
			}
			if err := oci.Logout(cmd.Context(), store, args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(s.Out, "Removed credentials for %s\n", args[0])
			return err
		},
	}
}

// readLine reads one line without its line ending.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
