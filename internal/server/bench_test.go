package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"quell.dev/quell/internal/testenv"
)

// benchIngest posts Falco alerts from many concurrent clients over loopback
// HTTP and reports alerts/s and the p50/p99 request latency (request sent
// to 202 received, i.e. durably stored).
//
// perRequest 1 posts single Falco alerts to /v1/falco, as Falco's
// http_output does; more posts batches to /v1/alerts, as the sensor does,
// or with falcoArrays JSON arrays of Falco alerts to /v1/falco, as a log
// shipper batching Falco's JSON output does. Every alert is distinct (a
// new output), so each is recorded.
func benchIngest(b *testing.B, dsn string, clients, perRequest int, falcoArrays ...bool) {
	h := start(b, dsn)
	arrays := len(falcoArrays) > 0 && falcoArrays[0]
	path := "/v1/falco"
	if perRequest > 1 && !arrays {
		path = "/v1/alerts"
	}
	falco := func(i int) string {
		return fmt.Sprintf(`{"time":"2026-11-23T10:00:00Z","rule":"Launch Suspicious Network Tool in Container","priority":"Notice","source":"syscall","hostname":"node-%d","output":"nc run %d","output_fields":{"k8s.ns.name":"ns-%d","k8s.pod.name":"pod-%d","container.id":"c%d","proc.name":"nc","evt.time":%d}}`, i%8, i, i%16, i%256, i, 1700000000000000000+i)
	}
	requests := (b.N + perRequest - 1) / perRequest
	body := func(i int) []byte {
		if perRequest == 1 {
			return []byte(falco(i))
		}
		var sb strings.Builder
		if arrays {
			sb.WriteByte('[')
			for j := range perRequest {
				if j > 0 {
					sb.WriteByte(',')
				}
				sb.WriteString(falco(i*perRequest + j))
			}
			sb.WriteByte(']')
			return []byte(sb.String())
		}
		sb.WriteString(`{"alerts":[`)
		for j := range perRequest {
			if j > 0 {
				sb.WriteByte(',')
			}
			n := i*perRequest + j
			fmt.Fprintf(&sb, `{"rule":"Launch Suspicious Network Tool in Container","priority":"Notice","time":"2026-11-23T10:00:00Z","hostname":"node-%d","output":"nc run %d","fields":{"proc.name":"nc"},"target":{"namespace":"ns-%d","pod":"pod-%d","container":"c%d"}}`, n%8, n, n%16, n%256, n)
		}
		sb.WriteString(`]}`)
		return []byte(sb.String())
	}
	// The bodies are made before the clock starts: the client shares the
	// machine with the server and should spend its CPU on HTTP only.
	bodies := make([][]byte, requests+1)
	for i := 1; i <= requests; i++ {
		bodies[i] = body(i)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	var (
		next atomic.Int64
		mu   sync.Mutex
		lats []time.Duration
		fail atomic.Int64
	)
	b.ResetTimer()
	cpu0 := cpuTime(b)
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			for {
				i := next.Add(1)
				if i > int64(requests) {
					break
				}
				req, _ := http.NewRequest("POST", h.url+path, bytes.NewReader(bodies[i]))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					fail.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					fail.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime(b) - cpu0
	b.StopTimer()
	if n := fail.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, requests)
	}
	slices.Sort(lats)
	b.ReportMetric(float64(requests*perRequest)/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
	// CPU of the whole process (server and clients; for PostgreSQL, not
	// the database server) per alert: less sensitive than alerts/s to
	// other work on the machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(requests*perRequest), "cpu-us/alert")
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkIngestFalcoHTTP(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchIngest(b, "", 64, 1) })
	b.Run("postgres", func(b *testing.B) { benchIngest(b, testenv.Postgres(b), 64, 1) })
}

func BenchmarkIngestBatchHTTP(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchIngest(b, "", 8, 100) })
	b.Run("postgres", func(b *testing.B) { benchIngest(b, testenv.Postgres(b), 8, 100) })
}

// BenchmarkIngestFalcoArrayHTTP posts Falco alerts in JSON arrays of 100
// to /v1/falco.
func BenchmarkIngestFalcoArrayHTTP(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchIngest(b, "", 8, 100, true) })
	b.Run("postgres", func(b *testing.B) { benchIngest(b, testenv.Postgres(b), 8, 100, true) })
}
