package agent

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the agent's Prometheus metrics, on a registry of its own:
//
//	clarateach_agent_up                                 gauge, 1
//	clarateach_agent_seats                              gauge, seats whose daemon answers
//	clarateach_agent_terminal_sessions                  gauge, summed from the daemons' /health
//	clarateach_agent_relayed_bytes_total{direction}     counter, "in" = client to seat, "out" = seat to client
//	clarateach_agent_seat_start_seconds                 histogram, POST /vms/ runtime start latency
//	clarateach_agent_seat_failures_total                counter, seats that failed to start or died
//	clarateach_agent_seat_restarts_total                counter, seats restarted in place (dead, files kept)
type metrics struct {
	reg          *prometheus.Registry
	handler      http.Handler
	bytesIn      prometheus.Counter
	bytesOut     prometheus.Counter
	startSeconds prometheus.Histogram
	failures     prometheus.Counter
	restarts     prometheus.Counter
}

func newMetrics(a *Agent) *metrics {
	reg := prometheus.NewRegistry()
	relayed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "clarateach_agent_relayed_bytes_total",
		Help: "Bytes relayed through the proxy: in = from clients to seats, out = from seats to clients.",
	}, []string{"direction"})
	m := &metrics{
		reg:      reg,
		bytesIn:  relayed.WithLabelValues("in"),
		bytesOut: relayed.WithLabelValues("out"),
		startSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "clarateach_agent_seat_start_seconds",
			Help:    "Time to start a seat until its workspace daemon answers.",
			Buckets: []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarateach_agent_seat_failures_total",
			Help: "Seats that failed to start, or were found dead.",
		}),
		restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarateach_agent_seat_restarts_total",
			Help: "Seats found dead and restarted in place (the learner's files kept).",
		}),
	}
	up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "clarateach_agent_up", Help: "1 while the agent runs."})
	up.Set(1)
	reg.MustRegister(relayed, m.startSeconds, m.failures, m.restarts, up, &seatCollector{a: a})
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m
}

var (
	seatsDesc    = prometheus.NewDesc("clarateach_agent_seats", "Seats whose workspace daemon answers.", nil, nil)
	warmDesc     = prometheus.NewDesc("clarateach_agent_warm_seats", "Seats started ahead of demand, ready to be claimed.", nil, nil)
	sessionsDesc = prometheus.NewDesc("clarateach_agent_terminal_sessions", "Terminal sessions in all seats (from the daemons' /health).", nil, nil)
)

// seatCollector asks every seat's daemon for its /health at scrape time.
type seatCollector struct{ a *Agent }

func (c *seatCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- seatsDesc
	ch <- sessionsDesc
	ch <- warmDesc
}

func (c *seatCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	seats, sessions := c.a.probeDaemons(ctx)
	ch <- prometheus.MustNewConstMetric(seatsDesc, prometheus.GaugeValue, float64(seats))
	ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(sessions))
	ch <- prometheus.MustNewConstMetric(warmDesc, prometheus.GaugeValue, float64(c.a.warmReady()))
}

// probeDaemons asks every seat's daemon for GET /health and returns how many
// answered and the sum of their terminal sessions.
func (a *Agent) probeDaemons(ctx context.Context) (alive, sessions int) {
	refs := a.snapshot()
	var mu sync.Mutex
	var wg sync.WaitGroup
	hc := &http.Client{Transport: a.tr}
	for _, ref := range refs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+ref.host+"/health", nil)
			if err != nil {
				return
			}
			resp, err := hc.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			var h struct {
				Sessions int `json:"sessions"`
			}
			if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&h) != nil {
				return
			}
			mu.Lock()
			alive++
			sessions += h.Sessions
			mu.Unlock()
		}()
	}
	wg.Wait()
	return alive, sessions
}
