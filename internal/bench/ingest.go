package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"quell.dev/quell/internal/config"
	"quell.dev/quell/internal/incident/sqlstore"
	"quell.dev/quell/internal/server"
)

// Ingest runs quell's server (SQLite in dir, no cluster) and posts
// Falco alerts to it in arrays of 100 from 4 clients for d: alerts
// stored per second and the requests' latency.
func Ingest(ctx context.Context, dir string, d time.Duration) ([]Result, error) {
	const token = "bench-token-0123456789abcdef"
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(token+" bench\n"), 0o600); err != nil {
		return nil, err
	}
	tok, err := server.LoadTokens(tokens)
	if err != nil {
		return nil, err
	}
	store, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(dir, "ingest.db"))
	if err != nil {
		return nil, err
	}
	defer store.Close()
	cfg := config.Default().Server
	cfg.Listen, cfg.RateLimit = "127.0.0.1:0", 1e6
	srv, err := server.New(server.Options{Config: cfg, Store: store, Tokens: tok, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	srvCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Start(srvCtx) }()
	defer func() { stop(); <-served }()
	a, err := srv.Addr(ctx)
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	url := "http://" + a.String() + "/v1/falco"

	var (
		mu   sync.Mutex
		lat  []time.Duration
		sent int
		errs []error
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second}
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				body, err := falcoArray(c, i, 100)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusAccepted {
						err = fmt.Errorf("POST /v1/falco: %s", resp.Status)
					}
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				lat = append(lat, time.Since(t0))
				sent += 100
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p50, p99 := percentiles(lat)
	return []Result{{Figure: "ingest: Falco alerts/s (arrays of 100, SQLite)", Value: perSecond(sent, took),
		Detail: fmt.Sprintf("%d alerts, 4 clients; request p50 %s, p99 %s", sent, ms(p50), ms(p99))}}, nil
}

// falcoArray is n Falco alerts about distinct pods (distinct incidents).
func falcoArray(client, round, n int) ([]byte, error) {
	alerts := make([]map[string]any, n)
	now := time.Now().UTC()
	for i := range alerts {
		pod := fmt.Sprintf("web-%d-%d-%d", client, round, i)
		alerts[i] = map[string]any{
			"time": now.Format(time.RFC3339Nano), "rule": "Launch Suspicious Network Tool in Container", "priority": "Notice",
			"source": "syscall", "hostname": "node-1", "output": "Network tool launched in container (process=nc k8s_pod_name=" + pod + ")",
			"output_fields": map[string]any{"proc.name": "nc", "proc.cmdline": "nc -lvp 4444", "k8s.ns.name": "shop", "k8s.pod.name": pod,
				"container.id": "3ad7b26ded6d"},
			"tags": []string{"network"},
		}
	}
	return json.Marshal(alerts)
}
