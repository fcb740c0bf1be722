package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPostgres means the PostgreSQL server binaries are not installed
// (Debian: apt-get install postgresql).
var ErrNoPostgres = errors.New("postgresql binaries not found")

// pgServer is a throwaway PostgreSQL server: trust auth on loopback, no
// Unix socket, fsync off.
type pgServer struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

var sharedPG struct {
	once sync.Once
	mu   sync.Mutex
	srv  *pgServer
	err  error
}

// Postgres returns the DSN of a new, empty database on the package's
// shared PostgreSQL server, starting the server on first use; the
// database is dropped when t ends. Without the binaries the test is
// skipped (failed under CI). Set QUELL_PG_BIN_DIR to use binaries other
// than the newest /usr/lib/postgresql/*/bin.
//
// The server runs as the postgres OS user when the tests run as root
// (PostgreSQL refuses root); it is stopped by StopPostgres and killed if
// the test binary dies.
func Postgres(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("testenv: -short: no PostgreSQL")
	}
	sharedPG.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		srv, err := startPostgres(ctx)
		sharedPG.mu.Lock()
		sharedPG.srv, sharedPG.err = srv, err
		sharedPG.mu.Unlock()
	})
	sharedPG.mu.Lock()
	srv, err := sharedPG.srv, sharedPG.err
	sharedPG.mu.Unlock()
	if err != nil {
		switch {
		case !errors.Is(err, ErrNoPostgres):
			t.Fatalf("testenv: start postgres: %v", err)
		case os.Getenv("CI") != "":
			t.Fatalf("testenv: postgres unavailable under CI: %v", err)
		default:
			t.Skipf("testenv: postgres unavailable: %v", err)
		}
	}
	if srv == nil {
		t.Fatal("testenv: postgres already stopped")
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b [8]byte
	rand.Read(b[:])
	name := "t_" + hex.EncodeToString(b[:])
	if err := srv.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	return srv.dsn(name)
}

// StopPostgres stops the package's shared PostgreSQL server, if one was
// started, and removes its files. Main calls it; it is safe to call more
// than once.
func StopPostgres() error {
	sharedPG.mu.Lock()
	srv := sharedPG.srv
	sharedPG.srv = nil
	sharedPG.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.stop()
}

func (s *pgServer) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

func (s *pgServer) exec(ctx context.Context, sql string) error {
	c, err := pgx.Connect(ctx, s.dsn("postgres"))
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	_, err = c.Exec(ctx, sql)
	return err
}

// postgresBinDir finds initdb and postgres.
func postgresBinDir() (string, error) {
	if d := os.Getenv("QUELL_PG_BIN_DIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int {
		va, _ := strconv.Atoi(filepath.Base(filepath.Dir(a)))
		vb, _ := strconv.Atoi(filepath.Base(filepath.Dir(b)))
		return vb - va
	})
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "initdb")) && fileExists(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("%w in /usr/lib/postgresql/*/bin (install the postgresql package or set QUELL_PG_BIN_DIR)", ErrNoPostgres)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

func startPostgres(ctx context.Context) (srv *pgServer, err error) {
	bin, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "quell-pg-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	cred, err := postgresCredential(dir)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.Dir = dir
	initdb.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}

	// The port is free when picked and may be taken before postgres binds
	// it; retry a few times.
	for range 3 {
		srv, err = runPostgres(ctx, bin, dir, data, cred)
		if err == nil {
			return srv, nil
		}
	}
	return nil, err
}

// postgresCredential returns the postgres user's credential when running
// as root, after giving it dir; nil means run as the current user.
func postgresCredential(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w: running as root and there is no postgres user: %v", ErrNoPostgres, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("postgres user ids: %w", err)
	}
	if err := os.Chown(dir, int(uid), int(gid)); err != nil {
		return nil, fmt.Errorf("chown %s: %w", dir, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func runPostgres(ctx context.Context, bin, dir, data string, cred *syscall.Credential) (*pgServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
	)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	cmd.Stdout, cmd.Stderr = logf, logf
	// SIGQUIT is PostgreSQL's immediate shutdown, for when the test binary
	// dies without stopping it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &pgServer{dir: dir, port: port, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(s.done)
	}()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := pgx.Connect(cctx, s.dsn("postgres"))
		cancel()
		if err == nil {
			c.Close(context.Background())
			return s, nil
		}
		select {
		case <-s.done:
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres exited: %s\n%s", cmd.ProcessState, tail(out, 2000))
		case <-ctx.Done():
			s.stop()
			out, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("postgres not ready: %w\n%s", err, tail(out, 2000))
		case <-tick.C:
		}
	}
}

// stop shuts the server down (fast, then kill) and removes its files.
func (s *pgServer) stop() error {
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("remove postgres dir: %w", err)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return b
}
