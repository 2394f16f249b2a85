package server

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// latencyBuckets are the upper bounds (seconds) of the latency
// histograms: from a health check to a Score-CAM run.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// metrics holds the server's counters, written in the Prometheus text
// exposition format (version 0.0.4) by write.
type metrics struct {
	inFlight atomic.Int64

	mu       sync.Mutex
	requests *family // counter: handler, code
	latency  *family // histogram: handler
	explains *family // counter: model, method, outcome
	expTime  *family // histogram: method
	rejected *family // counter: reason
}

// family is a metric with labels: a counter, or a histogram.
type family struct {
	name, help, typ string
	labels          []string
	series          map[string]*series
}

type series struct {
	values  []string
	value   float64  // counter
	buckets []uint64 // histogram: cumulative counts are computed on write
	sum     float64
	count   uint64
}

func newFamily(name, typ, help string, labels ...string) *family {
	return &family{name: name, help: help, typ: typ, labels: labels, series: make(map[string]*series)}
}

func newMetrics() *metrics {
	return &metrics{
		requests: newFamily("gradcam_http_requests_total", "counter", "HTTP requests answered, by handler and status code.", "handler", "code"),
		latency:  newFamily("gradcam_http_request_duration_seconds", "histogram", "Time from a request's arrival to its answer, by handler.", "handler"),
		explains: newFamily("gradcam_explanations_total", "counter", "Explanations computed, by model, method and outcome (ok, error, timeout, canceled).", "model", "method", "outcome"),
		expTime:  newFamily("gradcam_explanation_duration_seconds", "histogram", "Time to compute one explanation (one method, all its classes), by method.", "method"),
		rejected: newFamily("gradcam_rejected_total", "counter", "Requests refused before any work, by reason (queue_full, shutting_down).", "reason"),
	}
}

func (f *family) get(values ...string) *series {
	k := strings.Join(values, "\xff")
	s, ok := f.series[k]
	if !ok {
		s = &series{values: values}
		if f.typ == "histogram" {
			s.buckets = make([]uint64, len(latencyBuckets))
		}
		f.series[k] = s
	}
	return s
}

func (m *metrics) add(f *family, v float64, values ...string) {
	m.mu.Lock()
	f.get(values...).value += v
	m.mu.Unlock()
}

func (m *metrics) observe(f *family, d time.Duration, values ...string) {
	sec := d.Seconds()
	m.mu.Lock()
	s := f.get(values...)
	if i, _ := slices.BinarySearch(latencyBuckets, sec); i < len(latencyBuckets) {
		s.buckets[i]++
	}
	s.sum += sec
	s.count++
	m.mu.Unlock()
}

// request records one answered HTTP request.
func (m *metrics) request(handler string, code int, d time.Duration) {
	m.add(m.requests, 1, handler, strconv.Itoa(code))
	m.observe(m.latency, d, handler)
}

// gauge is a value read when the metrics are written.
type gauge struct {
	name, help string
	value      float64
	labels     [][2]string
}

// write writes every metric, families in a fixed order and series sorted
// by their labels, followed by the gauges.
func (m *metrics) write(w io.Writer, gauges []gauge) error {
	var b strings.Builder
	m.mu.Lock()
	for _, f := range []*family{m.requests, m.latency, m.explains, m.expTime, m.rejected} {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", f.name, f.help, f.name, f.typ)
		keys := make([]string, 0, len(f.series))
		for k := range f.series {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			s := f.series[k]
			if f.typ == "counter" {
				fmt.Fprintf(&b, "%s%s %s\n", f.name, labelString(f.labels, s.values, ""), formatFloat(s.value))
				continue
			}
			var cum uint64
			for i, le := range latencyBuckets {
				cum += s.buckets[i]
				fmt.Fprintf(&b, "%s_bucket%s %d\n", f.name, labelString(f.labels, s.values, formatFloat(le)), cum)
			}
			fmt.Fprintf(&b, "%s_bucket%s %d\n", f.name, labelString(f.labels, s.values, "+Inf"), s.count)
			fmt.Fprintf(&b, "%s_sum%s %s\n", f.name, labelString(f.labels, s.values, ""), formatFloat(s.sum))
			fmt.Fprintf(&b, "%s_count%s %d\n", f.name, labelString(f.labels, s.values, ""), s.count)
		}
	}
	m.mu.Unlock()
	seen := map[string]bool{}
	for _, g := range gauges {
		if !seen[g.name] {
			fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", g.name, g.help, g.name)
			seen[g.name] = true
		}
		var names, values []string
		for _, l := range g.labels {
			names, values = append(names, l[0]), append(values, l[1])
		}
		fmt.Fprintf(&b, "%s%s %s\n", g.name, labelString(names, values, ""), formatFloat(g.value))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// labelString formats {a="x",b="y"} with an le label for buckets.
func labelString(names, values []string, le string) string {
	if len(names) == 0 && le == "" {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=\"%s\"", n, escapeLabel(values[i]))
	}
	if le != "" {
		if len(names) > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "le=\"%s\"", le)
	}
	b.WriteByte('}')
	return b.String()
}

// escapeLabel escapes a label value as the text format requires:
// backslash, double quote and line feed.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
