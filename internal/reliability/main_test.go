package reliability

import (
	"fmt"
	"os"
	"syscall"
	"testing"
)

func TestMain(m *testing.M) {
	raiseFileLimit()
	if os.Getenv(clientProcessEnv) != "" {
		// This binary was started by the load test to hold its clients.
		os.Exit(clientProcess())
	}
	os.Exit(m.Run())
}

// fileLimit is the open-file limit in force once raiseFileLimit ran.
var fileLimit uint64

// raiseFileLimit raises the soft limit on open files to the hard one:
// every connection of a test costs two descriptors, its client's and its
// server's.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fmt.Fprintln(os.Stderr, "reliability: getrlimit:", err)
		return
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fmt.Fprintln(os.Stderr, "reliability: setrlimit:", err)
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		}
	}
	fileLimit = lim.Cur
}
