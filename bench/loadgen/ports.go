package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
)

// freePorts prints n distinct TCP ports on 127.0.0.1 that the kernel reports free, space-separated on one line.
// All n listeners are open at once, so the ports differ; they are closed before the caller binds them, which leaves
// a small window in which another process could take one, so the scripts check each port again before use.
func freePorts(args []string) error {
	fs := flag.NewFlagSet("freeports", flag.ExitOnError)
	n := fs.Int("n", 1, "how many ports")
	fs.Parse(args)
	ports, err := freePortList(*n)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(os.Stdout, strings.Trim(fmt.Sprint(ports), "[]"))
	return err
}

// freePortList asks the kernel for n distinct free ports on 127.0.0.1.
func freePortList(n int) ([]int, error) {
	if n < 1 || n > 256 {
		return nil, fmt.Errorf("freeports: -n %d out of range 1..256", n)
	}
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("freeports: asking the kernel for a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
