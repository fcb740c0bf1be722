package server

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Tokens is the set of accepted bearer tokens, read from a file with one
// token per line, optionally followed by whitespace and a name for the audit
// trail; blank lines and lines starting with # are ignored. Reload replaces
// the set only if the file reads cleanly.
type Tokens struct {
	path  string
	set   atomic.Pointer[map[[32]byte]string] // sha256(token) -> name
	mtime atomic.Int64
}

// LoadTokens reads the token file.
func LoadTokens(path string) (*Tokens, error) {
	t := &Tokens{path: path}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload rereads the file; on error the previous set stays in force.
func (t *Tokens) Reload() error {
	f, err := os.Open(t.path)
	if err != nil {
		return fmt.Errorf("read token file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat token file: %w", err)
	}
	set := map[[32]byte]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields[0]) < 16 {
			return fmt.Errorf("token file %s:%d: token shorter than 16 characters", t.path, n)
		}
		name := fmt.Sprintf("token-%d", n)
		if len(fields) > 1 {
			name = fields[1]
		}
		set[sha256.Sum256([]byte(fields[0]))] = name
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read token file: %w", err)
	}
	if len(set) == 0 {
		return fmt.Errorf("token file %s: no tokens", t.path)
	}
	t.set.Store(&set)
	t.mtime.Store(st.ModTime().UnixNano())
	return nil
}

// Lookup returns the name of token, if accepted. Tokens are compared by
// their SHA-256, so the lookup time does not depend on how much of a guess
// matches.
func (t *Tokens) Lookup(token string) (string, bool) {
	name, ok := (*t.set.Load())[sha256.Sum256([]byte(token))]
	return name, ok
}

// Watch reloads the file when its modification time changes, until ctx is
// done.
func (t *Tokens) Watch(ctx context.Context, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st, err := os.Stat(t.path)
		if err != nil || st.ModTime().UnixNano() == t.mtime.Load() {
			continue
		}
		if err := t.Reload(); err != nil {
			log.Warn("token file reload rejected; keeping previous tokens", "err", err)
			continue
		}
		log.Info("token file reloaded", "path", t.path)
	}
}

type ctxKey int

const actorKey ctxKey = 0

// actor returns the name of the token that authenticated the request.
func actor(ctx context.Context) string {
	if v, ok := ctx.Value(actorKey).(string); ok {
		return v
	}
	return "anonymous"
}

// authenticate wraps next with bearer-token authentication and a per-token
// rate limit.
func authenticate(tokens *Tokens, proxyHeader string, limit rate.Limit, burst int, next http.Handler) http.Handler {
	var mu sync.Mutex
	limiters := map[string]*rate.Limiter{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(h, "Bearer ")
		name, known := tokens.Lookup(strings.TrimSpace(token))
		if user := proxyUser(r, proxyHeader); !known && user != "" {
			name, ok, known = "proxy:"+user, true, true
		}
		if !ok || !known {
			w.Header().Set("WWW-Authenticate", `Bearer realm="quell"`)
			writeError(w, &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "a valid bearer token is required"})
			return
		}
		mu.Lock()
		l := limiters[name]
		if l == nil {
			l = rate.NewLimiter(limit, burst)
			limiters[name] = l
		}
		mu.Unlock()
		if !l.Allow() {
			writeError(w, &apiError{Status: http.StatusTooManyRequests, Code: "rate_limited", Message: "too many requests for this token", RetryAfter: "1"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey, name)))
	})
}

var errNoTokens = errors.New("no token file: every endpoint but /healthz and /readyz requires one (server.auth_token_file)")

// proxyUser is the user an authenticating proxy signed in, from header,
// when the request comes from a loopback peer (a sidecar proxy) or with a
// client certificate quell verified; "" otherwise.
func proxyUser(r *http.Request, header string) string {
	if header == "" {
		return ""
	}
	user := strings.TrimSpace(r.Header.Get(header))
	if user == "" || len(user) > 256 {
		return ""
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		return user
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err == nil && ip != nil && ip.IsLoopback() {
		return user
	}
	return ""
}
