package playbook

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limits are the guards that hold whatever a playbook says: destructive
// actions per minute globally and per namespace, and suspensions per
// namespace per hour beyond which a person must approve. They are kept in
// memory: a restart forgets the counts (and is itself rare and logged).
type limits struct {
	global      *rate.Limiter
	perNSMinute int
	suspendsNS  int

	mu        sync.Mutex
	ns        map[string]*rate.Limiter
	suspended map[string][]time.Time // namespace -> suspension times in the last hour
}

func newLimits(perMinute, perNSMinute, suspendsPerNSHour int) *limits {
	return &limits{
		global:      rate.NewLimiter(rate.Limit(float64(perMinute)/60), perMinute),
		perNSMinute: perNSMinute,
		suspendsNS:  suspendsPerNSHour,
		ns:          map[string]*rate.Limiter{},
		suspended:   map[string][]time.Time{},
	}
}

// allow takes one destructive action from the global and the namespace's
// budget, or says which is spent.
func (l *limits) allow(ns string) (bool, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.ns[ns]
	if !ok {
		lim = rate.NewLimiter(rate.Limit(float64(l.perNSMinute)/60), l.perNSMinute)
		l.ns[ns] = lim
	}
	now := time.Now()
	if lim.TokensAt(now) < 1 {
		return false, fmt.Sprintf("the limit of %d destructive actions per minute in namespace %s is reached", l.perNSMinute, ns)
	}
	if !l.global.AllowN(now, 1) {
		return false, fmt.Sprintf("the limit of %d destructive actions per minute is reached", l.global.Burst())
	}
	lim.AllowN(now, 1)
	return true, ""
}

// suspensionNeedsApproval reports whether another suspension in ns would
// exceed the hourly limit, and why.
func (l *limits) suspensionNeedsApproval(ns string) (bool, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.recentLocked(ns))
	if n < l.suspendsNS {
		return false, ""
	}
	return true, fmt.Sprintf("%d workloads of namespace %s were suspended in the last hour (limit %d)", n, ns, l.suspendsNS)
}

// suspendedOne counts a suspension in ns.
func (l *limits) suspendedOne(ns string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.suspended[ns] = append(l.recentLocked(ns), time.Now())
}

func (l *limits) recentLocked(ns string) []time.Time {
	cut := time.Now().Add(-time.Hour)
	ts := l.suspended[ns]
	i := 0
	for i < len(ts) && ts[i].Before(cut) {
		i++
	}
	ts = ts[i:]
	l.suspended[ns] = ts
	return ts
}
