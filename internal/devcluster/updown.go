package devcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Load reads the state of a cluster started in dir by any process.
func Load(dir string) (*Cluster, error) {
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("read cluster state: %w", err)
	}
	var c Cluster
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("decode cluster state %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &c, nil
}

// Running reports whether every process of the cluster is still running.
func (c *Cluster) Running() bool {
	if len(c.Processes) == 0 {
		return false
	}
	return c.checkAlive() == nil
}

// Up starts a detached cluster in opts.Dir, or returns the running one if
// the directory already holds one. A directory whose cluster died is
// cleaned and started again.
func Up(ctx context.Context, opts Options) (*Cluster, error) {
	if c, err := Load(opts.Dir); err == nil {
		if c.Running() {
			return c, nil
		}
		if err := c.Stop(); err != nil {
			return nil, fmt.Errorf("clean stale cluster in %s: %w", opts.Dir, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	opts.Detach = true
	return Start(ctx, opts)
}

// Down stops the cluster recorded in dir and removes its data. A directory
// without a cluster is not an error.
func Down(dir string) error {
	c, err := Load(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return c.Stop()
}
