package server

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Headers a sensor sends with each batch (see sensor.ServerOutput).
const (
	HeaderSensorHost    = "X-Quell-Sensor-Host"
	HeaderSensorDropped = "X-Quell-Sensor-Dropped"
)

// sensorConnectedFor is how recently a sensor must have posted to count
// as connected (sensors post at least every 30 s, alerts or not).
const sensorConnectedFor = 90 * time.Second

// SensorStatus is what the server knows of one sensor.
type SensorStatus struct {
	Host      string    `json:"host"`
	Cluster   string    `json:"cluster"`
	Token     string    `json:"token"`
	LastSeen  time.Time `json:"last_seen"`
	Connected bool      `json:"connected"`
	Alerts    int64     `json:"alerts"`
	// Dropped is the sensor's own count of events and alerts it dropped.
	Dropped int64 `json:"dropped"`
}

// sensorSet remembers the sensors that posted, by token, host and
// cluster (at most 10,000; the least recently seen are forgotten).
type sensorSet struct {
	mu sync.Mutex
	m  map[string]*SensorStatus
}

func (s *sensorSet) seen(token, host, cluster, dropped string, alerts int) {
	host = strings.TrimSpace(host)
	if len(host) > 253 {
		host = host[:253]
	}
	d, _ := strconv.ParseInt(strings.TrimSpace(dropped), 10, 64)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*SensorStatus{}
	}
	k := token + "\x00" + host + "\x00" + cluster
	st := s.m[k]
	if st == nil {
		if len(s.m) >= 10_000 {
			s.evictLocked()
		}
		st = &SensorStatus{Host: host, Cluster: cluster, Token: token}
		s.m[k] = st
	}
	st.LastSeen = time.Now().UTC()
	st.Alerts += int64(alerts)
	if d >= 0 {
		st.Dropped = d
	}
}

func (s *sensorSet) evictLocked() {
	var oldest string
	var at time.Time
	for k, st := range s.m {
		if oldest == "" || st.LastSeen.Before(at) {
			oldest, at = k, st.LastSeen
		}
	}
	delete(s.m, oldest)
}

func (s *sensorSet) list() []SensorStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []SensorStatus{}
	for _, st := range s.m {
		c := *st
		c.Connected = time.Since(c.LastSeen) < sensorConnectedFor
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b SensorStatus) int {
		return strings.Compare(a.Cluster+"\x00"+a.Host+a.Token, b.Cluster+"\x00"+b.Host+b.Token)
	})
	return out
}
