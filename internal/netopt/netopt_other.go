//go:build !linux

package netopt

import (
	"errors"
	"net"
	"time"
)

func setUserTimeout(*net.TCPConn, time.Duration) error { return nil }

func userTimeout(*net.TCPConn) (time.Duration, error) { return 0, nil }

func setNotSentLowat(*net.TCPConn, int) error { return nil }

func notSentLowat(*net.TCPConn) (int, error) { return 0, nil }

func readAvailable(*net.TCPConn, []byte) (int, error) { return 0, errors.ErrUnsupported }
