package sqlstore

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"quell.dev/quell/internal/incident"
)

func TestZZDiag(t *testing.T) {
	if os.Getenv("ZZDIAG") == "" {
		t.Skip()
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "q.db")
	s, err := Open(t.Context(), "sqlite://"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.ckpt.close()
	s.ckpt = nil
	if _, err := s.w.Exec("PRAGMA wal_autocheckpoint=0"); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	const per = 400
	n := 0
	batch := make([]incident.Alert, per)
	var commitT time.Duration
	commits := 0
	for n < 240000 {
		for j := range batch {
			batch[j] = incident.Alert{Source: "api", Rule: "Launch Suspicious Network Tool in Container", Priority: "Notice", Time: at,
				Output: fmt.Sprintf("nc run %d", n), Hostname: fmt.Sprintf("node-%d", n%8), Fields: map[string]any{"proc.name": "nc"},
				Target: incident.Target{Cluster: "test", Kind: incident.TargetPod, Namespace: fmt.Sprintf("ns-%d", n%16), Name: fmt.Sprintf("pod-%d", n%256), Pod: fmt.Sprintf("pod-%d", n%256), Container: fmt.Sprintf("c%d", n)}}
			n++
		}
		st, _ := os.Stat(path + "-wal")
		var before int64
		if st != nil {
			before = st.Size()
		}
		t0 := time.Now()
		if _, err := s.Ingest(t.Context(), batch, 10*time.Minute); err != nil {
			t.Fatal(err)
		}
		commitT += time.Since(t0)
		commits++
		st, _ = os.Stat(path + "-wal")
		frames := (st.Size() - before)
		if n%40000 < per {
			var pages []string
			rows, err := s.w.Query("SELECT name, count(*) FROM dbstat GROUP BY name ORDER BY 2 DESC")
			if err == nil {
				for rows.Next() {
					var nm string
					var c int
					rows.Scan(&nm, &c)
					pages = append(pages, fmt.Sprintf("%s=%d", nm, c))
				}
				rows.Close()
			} else {
				pages = []string{err.Error()}
			}
			t.Logf("n=%d walbytes/commit(last)=%d avg commit=%v pages=%v", n, frames, commitT/time.Duration(commits), pages)
			commitT, commits = 0, 0
		}
		if _, err := s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
	}
}

func TestZZPlan(t *testing.T) {
	s := mustOpen(t, "sqlite://"+filepath.Join(t.TempDir(), "q.db"))
	defer s.Close()
	for _, q := range []string{updateIncidents(2)} {
		rows, err := s.w.Query("EXPLAIN QUERY PLAN "+q, 1, 1, 1, "x", 1, 1, 1, 1, 2, 1, "x", 1, 1, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var a, b, c int
			var d string
			rows.Scan(&a, &b, &c, &d)
			t.Log(q[:40], "|", d)
		}
		rows.Close()
	}
}
