package sensor_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"quell.dev/quell/internal/sensor/storm"
)

// generator is the storm's helper process: it launches the storm and
// receives the sensor's alerts. It speaks in lines: it prints "url U",
// launches on "go" and prints "launched N NANOS", and on "done" prints
// "latencies" and the exec → delivered latency of every marked launch in
// microseconds once all arrived (or 3s passed).
type generator struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
	url string
}

func startGenerator(b *testing.B, rate int, secs, bin, nc string) *generator {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=storm", "QUELL_STORM_RATE="+strconv.Itoa(rate),
		"QUELL_STORM_SECONDS="+secs, "QUELL_STORM_BIN="+bin, "QUELL_STORM_NC="+nc)
	cmd.Stderr = os.Stderr
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	g := &generator{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	g.out.Buffer(nil, 16<<20)
	b.Cleanup(func() { in.Close(); _ = cmd.Wait() })
	g.url = strings.TrimPrefix(g.line(b), "url ")
	return g
}

func (g *generator) line(b *testing.B) string {
	b.Helper()
	if !g.out.Scan() {
		b.Fatalf("storm generator ended: %v", g.out.Err())
	}
	return g.out.Text()
}

func (g *generator) launch(b *testing.B) (launched, nanos int64) {
	b.Helper()
	fmt.Fprintln(g.in, "go")
	if _, err := fmt.Sscanf(g.line(b), "launched %d %d", &launched, &nanos); err != nil {
		b.Fatalf("storm generator: %v", err)
	}
	return launched, nanos
}

func (g *generator) latencies(b *testing.B) []time.Duration {
	b.Helper()
	fmt.Fprintln(g.in, "done")
	fields := strings.Fields(g.line(b))
	var out []time.Duration
	for _, f := range fields[1:] {
		us, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			b.Fatalf("storm generator latency %q: %v", f, err)
		}
		out = append(out, time.Duration(us)*time.Microsecond)
	}
	return out
}

// stormHelper is the generator process.
func stormHelper() int {
	rate, _ := strconv.Atoi(os.Getenv("QUELL_STORM_RATE"))
	secs, _ := strconv.ParseFloat(os.Getenv("QUELL_STORM_SECONDS"), 64)
	var mu sync.Mutex
	var lat []int64
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	go func() {
		_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var batch struct {
				Alerts []struct {
					Fields map[string]any `json:"fields"`
				} `json:"alerts"`
			}
			if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			now := time.Now()
			mu.Lock()
			for _, a := range batch.Alerts {
				cmd, _ := a.Fields["proc.cmdline"].(string)
				if _, ts, ok := strings.Cut(cmd, "quell-storm t="); ok {
					if n, err := strconv.ParseInt(ts, 10, 64); err == nil {
						lat = append(lat, now.Sub(time.Unix(0, n)).Microseconds())
					}
				}
			}
			mu.Unlock()
			w.WriteHeader(http.StatusAccepted)
		}))
	}()
	fmt.Println("url http://" + l.Addr().String())
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "go" {
		return 1
	}
	r := storm.Run(storm.Options{Program: os.Getenv("QUELL_STORM_BIN"), Rate: rate, Duration: time.Duration(secs * float64(time.Second)),
		Mark: stormEvery, Marked: os.Getenv("QUELL_STORM_NC"),
		MarkArgs: func(at time.Time) []string {
			return []string{"nc", "quell-storm", "t=" + strconv.FormatInt(at.UnixNano(), 10)}
		}})
	fmt.Printf("launched %d %d\n", r.Launched, r.Elapsed.Nanoseconds())
	if !in.Scan() || in.Text() != "done" {
		return 1
	}
	want := int(r.Launched / stormEvery)
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= want {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var sb strings.Builder
	sb.WriteString("latencies")
	for _, v := range lat {
		sb.WriteString(" " + strconv.FormatInt(v, 10))
	}
	fmt.Println(sb.String())
	return 0
}
