// Command idleprobe measures what idle SSE streams cost a server process,
// before and after the first message: the memory scenario of cmd/bench
// measures streams that have been sent nothing but their response head (a
// server that sends no head until the first message, as tmaxmax/go-sse's
// does, then leaves net/http's write buffers untouched, hence not
// resident), and this measures both.
//
//	cd internal/bench && go build -o /tmp/bench ./cmd/bench &&
//	    go run ./cmd/idleprobe -exe /tmp/bench -lib ours-sse -n 5000
//
// It runs the server (cmd/bench -serve LIB) in a process of its own, opens
// n streams from this one over 127.0.0.1, reads nothing, and reports the
// server's VmRSS and Go heap and stacks per stream, less what it held
// before any, once all are open and again after one message was published
// to all of them. With -prof FILE it also saves the server's heap and
// goroutine profiles (FILE-heap.pprof, FILE-goroutine.pprof); run it with
// BENCH_MEMPROFILERATE=1 for exact heap profiles.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/realtime-go/realtime/internal/bench/servers"
)

func main() {
	log.SetFlags(0)
	exe := flag.String("exe", "", "the cmd/bench binary")
	lib := flag.String("lib", "ours-sse", "the library to serve")
	n := flag.Int("n", 5000, "streams")
	prof := flag.String("prof", "", "save heap and goroutine profiles to FILE-heap.pprof and FILE-goroutine.pprof")
	flag.Parse()
	if *exe == "" {
		log.Fatal("idleprobe: -exe names the cmd/bench binary")
	}
	servers.RaiseFileLimit()
	cmd := exec.Command(*exe, "-serve", *lib)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		log.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		log.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer in.Close() // the server exits when its stdin closes
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		log.Fatal(err)
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "READY" {
		log.Fatalf("idleprobe: the server said %q", line)
	}
	data, ctl, pid := f[1], f[2], cmd.Process.Pid

	base := stats(ctl, true)
	baseRSS, err := servers.ReadRSS(pid)
	if err != nil {
		log.Fatal(err)
	}
	path := "/events?topic=bench"
	if lib, err := servers.Lookup(*lib); err == nil {
		path = lib.Path
	}
	conns := make([]net.Conn, 0, *n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range *n {
		c, err := net.Dial("tcp", data)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", path, data)
		conns = append(conns, c)
	}
	deadline := time.Now().Add(time.Minute)
	for stats(ctl, false).Subscribers < *n {
		if time.Now().After(deadline) {
			log.Fatalf("idleprobe: %d of %d streams open after a minute", stats(ctl, false).Subscribers, *n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	report(*lib+": idle, no message yet:", pid, ctl, base, baseRSS, *n)

	resp, err := http.Post("http://"+ctl+"/publish?n=1", "", nil)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(2 * time.Second)
	report(*lib+": idle, after one message:", pid, ctl, base, baseRSS, *n)

	if *prof != "" {
		for _, p := range []string{"heap", "goroutine"} {
			if err := save("http://"+ctl+"/debug/pprof/"+p, *prof+"-"+p+".pprof"); err != nil {
				log.Fatal(err)
			}
		}
	}
}

// report prints the server's resident set (before a collection) and its
// heap and stacks (after one) per stream, less base and baseRSS.
func report(what string, pid int, ctl string, base servers.Stats, baseRSS uint64, n int) {
	rss, err := servers.ReadRSS(pid)
	if err != nil {
		log.Fatal(err)
	}
	st := stats(ctl, true)
	k := float64(n) * 1024
	fmt.Printf("%-40s RSS %5.1f KiB/stream; heap %5.1f, stacks %4.1f KiB/stream after a GC; %.2f goroutines/stream\n", what,
		(float64(rss)-float64(baseRSS))/k, (float64(st.HeapInuse)-float64(base.HeapInuse))/k,
		(float64(st.StackInuse)-float64(base.StackInuse))/k, float64(st.Goroutines-base.Goroutines)/float64(n))
}

// stats asks the server for its stats, after a collection with gc set.
func stats(ctl string, gc bool) servers.Stats {
	u := "http://" + ctl + "/stats"
	if gc {
		u += "?gc=1"
	}
	resp, err := http.Get(u)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var st servers.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		log.Fatal(err)
	}
	return st
}

// save writes what url answers to file.
func save(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
