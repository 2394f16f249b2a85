//go:build loadtest

package server

// The load test: not part of the default "go test ./...". Run it with
//
//	go test -tags loadtest -run TestLoad -v -timeout 10m ./server/
//
// GRADCAM_LOAD_DURATION changes the length of the steady phase (60s).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// loadStats collects the answers of a phase.
type loadStats struct {
	mu        sync.Mutex
	latencies []time.Duration // of 200 answers
	codes     map[int]int
	noRetry   int // 503s without Retry-After
	badBody   int // 200s whose body is not a full answer
	errs      map[string]int
}

func newLoadStats() *loadStats { return &loadStats{codes: map[int]int{}, errs: map[string]int{}} }

func (s *loadStats) answers() int {
	n := 0
	for _, c := range s.codes {
		n += c
	}
	return n
}

func (s *loadStats) percentile(p float64) time.Duration {
	l := slices.Clone(s.latencies)
	slices.Sort(l)
	if len(l) == 0 {
		return 0
	}
	return l[min(len(l)-1, int(p*float64(len(l))))]
}

// hammer runs clients that post the photo until stop is closed (or, with
// untilError, until their first transport error).
func hammer(client *http.Client, url string, body []byte, clients int, stop <-chan struct{}, st *loadStats, untilError bool) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				resp, err := client.Post(url, "image/png", bytes.NewReader(body))
				if err != nil {
					st.mu.Lock()
					st.errs[errKind(err)]++
					st.mu.Unlock()
					if untilError {
						return
					}
					time.Sleep(10 * time.Millisecond)
					continue
				}
				data, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				d := time.Since(start)
				st.mu.Lock()
				st.codes[resp.StatusCode]++
				switch {
				case err != nil:
					st.errs["reading the answer: "+errKind(err)]++
				case resp.StatusCode == 200:
					var r ExplainResponse
					if json.Unmarshal(data, &r) != nil || len(r.Explanations) != 1 || r.Explanations[0].Overlay == nil {
						st.badBody++
					}
					st.latencies = append(st.latencies, d)
				case resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "":
					st.noRetry++
				}
				st.mu.Unlock()
				if resp.StatusCode == 503 {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	return &wg
}

func errKind(err error) string {
	s := err.Error()
	for _, k := range []string{"connection refused", "EOF", "connection reset", "server closed idle connection", "broken pipe"} {
		if strings.Contains(s, k) {
			return k
		}
	}
	return s
}

// rss returns the resident set size of the process in bytes.
func rss(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func median(v []int64) int64 {
	v = slices.Clone(v)
	slices.Sort(v)
	return v[len(v)/2]
}

func explainCount(s *Server) int {
	s.metrics.mu.Lock()
	defer s.metrics.mu.Unlock()
	n := 0
	for _, se := range s.metrics.requests.series {
		if se.values[0] == "explain" {
			n += int(se.value)
		}
	}
	return n
}

// TestLoad: 4 clients for 60 s on MobileNetV2 Grad-CAM over loopback
// (no 5xx, latency percentiles, throughput, resident memory flat), a
// burst of 16 clients (the queue overflows into 503s with Retry-After,
// nothing else fails), then SIGTERM under load: every request the
// server accepted is answered, the rest are refused at connection.
func TestLoad(t *testing.T) {
	dur := 60 * time.Second
	if v := os.Getenv("GRADCAM_LOAD_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		dur = d
	}
	window := min(10*time.Second, dur/3)
	s, err := New(Config{ModelsDir: modelsDir(t), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stopSignals()
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if r, err := client.Get(base + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("not ready after 30 s")
		}
	}
	photo := readShared(t, "images", "both.png")
	url := base + "/v1/explain?model=mobilenet_v2_1.0_224&method=gradcam"
	t.Logf("workers %d, queue %d; photo both.png (%d bytes); load average before: %s", s.cfg.Workers, s.cfg.Queue, len(photo), loadavg())
	defer func() { t.Logf("load average after: %s", loadavg()) }()

	// Steady phase.
	st := newLoadStats()
	stop := make(chan struct{})
	var samples []int64
	var sampleTimes []time.Duration
	start := time.Now()
	wg := hammer(client, url, photo, 4, stop, st, false)
	for tick := time.NewTicker(500 * time.Millisecond); time.Since(start) < dur; <-tick.C {
		samples = append(samples, rss(t))
		sampleTimes = append(sampleTimes, time.Since(start))
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	var first, last []int64
	for i, at := range sampleTimes {
		switch {
		case at < window:
			first = append(first, samples[i])
		case at >= dur-window:
			last = append(last, samples[i])
		}
	}
	n := len(st.latencies)
	t.Logf("steady: 4 clients, %v: %d answers %v, %.1f explanations/s; latency p50 %v, p90 %v, p99 %v, max %v",
		elapsed.Round(time.Second), st.answers(), st.codes, float64(n)/elapsed.Seconds(),
		st.percentile(0.5).Round(time.Millisecond), st.percentile(0.9).Round(time.Millisecond),
		st.percentile(0.99).Round(time.Millisecond), st.percentile(1).Round(time.Millisecond))
	t.Logf("steady: RSS median %.1f MiB in the first %v, %.1f MiB in the last %v (max %.1f / %.1f MiB)",
		mib(median(first)), window, mib(median(last)), window, mib(slices.Max(first)), mib(slices.Max(last)))
	var traj []string
	for w0 := time.Duration(0); w0 < dur; w0 += window {
		var in []int64
		for i, at := range sampleTimes {
			if at >= w0 && at < w0+window {
				in = append(in, samples[i])
			}
		}
		if len(in) > 0 {
			traj = append(traj, fmt.Sprintf("%.0f", mib(median(in))))
		}
	}
	t.Logf("steady: RSS median per %v window: %s MiB", window, strings.Join(traj, ", "))
	for code, c := range st.codes {
		if code != 200 {
			t.Errorf("steady: %d answers with status %d", c, code)
		}
	}
	if len(st.errs) > 0 || st.badBody > 0 {
		t.Errorf("steady: transport errors %v, %d bad bodies", st.errs, st.badBody)
	}
	if median(last) > median(first)+median(first)/10 {
		t.Errorf("resident memory grew from %.1f to %.1f MiB", mib(median(first)), mib(median(last)))
	}

	// Overload: more clients than workers and queue places.
	burst := newLoadStats()
	stop = make(chan struct{})
	bstart := time.Now()
	wg = hammer(client, url, photo, 16, stop, burst, false)
	time.Sleep(min(10*time.Second, dur/3))
	close(stop)
	wg.Wait()
	t.Logf("burst: 16 clients, %v: %d answers %v (503s refused at once, with Retry-After); p50 of the 200s %v",
		time.Since(bstart).Round(time.Second), burst.answers(), burst.codes, burst.percentile(0.5).Round(time.Millisecond))
	for code, c := range burst.codes {
		if code != 200 && code != 503 {
			t.Errorf("burst: %d answers with status %d", c, code)
		}
	}
	if burst.noRetry > 0 || len(burst.errs) > 0 || burst.badBody > 0 {
		t.Errorf("burst: %d 503s without Retry-After, transport errors %v, %d bad bodies", burst.noRetry, burst.errs, burst.badBody)
	}

	// SIGTERM under load.
	before := explainCount(s)
	term := newLoadStats()
	stop = make(chan struct{})
	wg = hammer(client, url, photo, 4, stop, term, true)
	time.Sleep(2 * time.Second)
	inFlight := s.metrics.inFlight.Load()
	sig := time.Now()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var serveErr error
	select {
	case serveErr = <-served:
	case <-time.After(s.cfg.ShutdownTimeout + 10*time.Second):
		t.Fatal("Serve did not return after SIGTERM")
	}
	shutdown := time.Since(sig)
	close(stop)
	wg.Wait()
	handled := explainCount(s) - before
	t.Logf("SIGTERM with %d requests in flight: Serve returned %v after %v; the server handled %d requests, the clients got %d answers %v; refused at connection: %v",
		inFlight, serveErr, shutdown.Round(time.Millisecond), handled, term.answers(), term.codes, term.errs)
	if serveErr != nil {
		t.Errorf("Serve: %v", serveErr)
	}
	if term.answers() != handled {
		t.Errorf("the server handled %d requests but the clients got %d answers", handled, term.answers())
	}
	for code, c := range term.codes {
		if code != 200 {
			t.Errorf("shutdown: %d answers with status %d", c, code)
		}
	}
	if term.badBody > 0 {
		t.Errorf("shutdown: %d bad bodies", term.badBody)
	}
	// The requests that got no answer were never read by the server (the
	// counts above agree): refused, or written on a connection it closed.
	for k := range term.errs {
		if !slices.Contains([]string{"connection refused", "EOF", "server closed idle connection", "connection reset", "broken pipe"}, k) {
			t.Errorf("shutdown: unexpected client error %q", k)
		}
	}
}

// loadavg returns the system's load averages (1, 5, 15 min): the
// machine may be shared, which the numbers depend on.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b))[:3], " ")
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
