package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"quell.dev/quell/internal/testenv"
)

// benchIngest posts Falco alerts from many concurrent clients over loopback
// HTTP and reports alerts/s and the p50/p99 request latency (request sent
// to 202 received, i.e. durably stored).
func benchIngest(b *testing.B, dsn string) {
	h := start(b, dsn)
	const clients = 64
	bodies := make([][]byte, 256)
	for i := range bodies {
		bodies[i] = []byte(fmt.Sprintf(`{"time":"2026-11-23T10:00:00Z","rule":"Launch Suspicious Network Tool in Container","priority":"Notice","source":"syscall","hostname":"node-%d","output":"nc run %d","output_fields":{"k8s.ns.name":"ns-%d","k8s.pod.name":"pod-%d","container.id":"c%d","proc.name":"nc","evt.time":%d}}`, i%8, i, i%16, i, i, 1700000000000000000+i))
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
	start := time.Now()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					break
				}
				body := bodies[i%int64(len(bodies))]
				req, _ := http.NewRequest("POST", h.url+"/v1/falco", bytes.NewReader(body))
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
	b.StopTimer()
	if n := fail.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	slices.Sort(lats)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
}

func BenchmarkIngestFalcoHTTP(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchIngest(b, "") })
	b.Run("postgres", func(b *testing.B) { benchIngest(b, testenv.Postgres(b)) })
}
