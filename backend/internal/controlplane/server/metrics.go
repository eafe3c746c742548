package server

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/clarateach/backend/internal/controlplane/store"
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	guesses  *prometheus.CounterVec
	// terminalRefused counts terminal WebSockets closed with 4409.
	terminalRefused prometheus.Counter
	// streamBytes counts the class streams' bytes by event (workshop, delta).
	streamBytes *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry, st store.Store, log *slog.Logger) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarateach_http_requests_total",
			Help: "HTTP requests by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "clarateach_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		guesses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarateach_guess_failures_total",
			Help: "Failed guesses (limit: code, register, password) by outcome: answered at once, delayed for their place, refused (429) because every place was taken.",
		}, []string{"limit", "outcome"}),
		terminalRefused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clarateach_terminal_refused_total",
			Help: "Terminal WebSockets closed with 4409 because their token or seat was at its cap (not logged one by one).",
		}),
		streamBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clarateach_class_stream_bytes_total",
			Help: "Bytes sent on the class views' streams, by event: workshop (the whole class) or delta (what changed).",
		}, []string{"event"}),
	}
	reg.MustRegister(m.requests, m.duration, m.guesses, m.terminalRefused, m.streamBytes, workshopCollector{st, log})
	return m
}

func (m *metrics) guess(limit, outcome string) { m.guesses.WithLabelValues(limit, outcome).Inc() }

func (m *metrics) observe(method, route string, code int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}

// workshopCollector reports clarateach_workshops{status} from the database
// at scrape time, so every replica reports the same truth.
type workshopCollector struct {
	st  store.Store
	log *slog.Logger
}

var workshopsDesc = prometheus.NewDesc("clarateach_workshops", "Workshops by status (not counting deleted ones).", []string{"status"}, nil)

func (c workshopCollector) Describe(ch chan<- *prometheus.Desc) { ch <- workshopsDesc }

func (c workshopCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	ws, err := c.st.ListWorkshops(ctx, store.WorkshopFilter{})
	if err != nil {
		c.log.Warn("metrics: list workshops", "err", err)
		return
	}
	counts := map[store.Status]int{}
	for _, s := range []store.Status{store.StatusCreated, store.StatusProvisioning, store.StatusRunning, store.StatusStopping, store.StatusStopped, store.StatusError} {
		counts[s] = 0
	}
	for _, w := range ws {
		counts[w.Status]++
	}
	for s, n := range counts {
		ch <- prometheus.MustNewConstMetric(workshopsDesc, prometheus.GaugeValue, float64(n), string(s))
	}
}
