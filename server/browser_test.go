package server

import (
	"context"
	"image/png"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/gradcam/gradcam/internal/shared"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// ArtifactsEnv names a directory where the browser test leaves its
// screenshot and downloaded figure; by default they go to a temporary
// directory.
const ArtifactsEnv = "GRADCAM_ARTIFACTS"

// TestBrowser drives the web page in headless Chromium against the real
// server on loopback: upload the photo of a dog and a cat, see "bull
// mastiff" first, click "tabby" and see the overlay change, move the
// opacity slider, add a second method, download the figure, drop the
// photo on the page. No request
// may leave the server, and the page may throw no error.
func TestBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("Chromium not found at %s (Debian: apt-get install chromium): %v", chromiumPath, err)
	}
	photo := shared.Path(t, "images", "both.png")
	s := newToyServer(t, Config{}, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(sctx, ln) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	base := "http://" + ln.Addr().String()

	artifacts := os.Getenv(ArtifactsEnv)
	if artifacts == "" {
		artifacts = t.TempDir()
	} else if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
	)
	defer cancelAlloc()
	bctx, cancelCtx := chromedp.NewContext(actx)
	defer cancelCtx()
	// The first action starts the browser, on a context without deadline.
	if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	if _, err := chromedp.CallBrowser(bctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: artifacts, EventsEnabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var outside, exceptions []string
	downloaded := make(chan string, 1)
	err = chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			u := e.Request.URL
			if !strings.HasPrefix(u, base+"/") && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:") {
				outside = append(outside, u)
			}
		case *runtime.EventExceptionThrown:
			exceptions = append(exceptions, e.ExceptionDetails.Text)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.ListenBrowser(bctx, func(ev any) {
		if e, ok := ev.(*browser.EventDownloadProgress); ok && e.State == browser.DownloadProgressStateCompleted {
			select {
			case downloaded <- e.GUID:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancelTimeout := context.WithTimeout(bctx, 3*time.Minute)
	defer cancelTimeout()
	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	get := func(what string, a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	eval := func(what, js string) float64 {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[float64](js))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	const canvasJS = `document.querySelector('#panels canvas')`
	// keepJS stores the first canvas's pixels; diffJS returns the mean
	// absolute difference of its pixels from the kept ones.
	const keepJS = `(() => { const c = ` + canvasJS + `; window.kept = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; return c.width; })()`
	const diffJS = `(() => { const c = ` + canvasJS + `; const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
		if (d.length !== window.kept.length) return 255;
		let s = 0; for (let i = 0; i < d.length; i++) s += Math.abs(d[i] - window.kept[i]); return s / d.length; })()`

	do("open the page", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#methods input[value="gradcam"]`)))
	if model := get("read the model", chromedp.Value(chromedp.CSS(`#model`))); model != "mobilenet_v2" {
		t.Fatalf("default model %q, want mobilenet_v2", model)
	}
	do("upload the photo", chromedp.SetUploadFiles(chromedp.CSS(`#file`), []string{photo}),
		chromedp.WaitVisible(chromedp.CSS(`body[data-explained="243"] #panels canvas`)))
	if top := get("read the top class", chromedp.Text(chromedp.CSS(`#predictions li:first-child .label`))); top != "bull mastiff" {
		t.Fatalf("first prediction %q, want bull mastiff", top)
	}
	if w := eval("keep the overlay", keepJS); w != 640 {
		t.Errorf("canvas %g wide, want 640", w)
	}
	do("click tabby", chromedp.Click(chromedp.Search(`//ol[@id="predictions"]//button[span[@class="label"][text()="tabby"]]`)),
		chromedp.WaitVisible(chromedp.CSS(`body[data-explained="281"] #panels canvas`)))
	if c := get("read the caption", chromedp.Text(chromedp.CSS(`#panels figcaption`))); !strings.Contains(c, "tabby (281)") {
		t.Errorf("caption %q, want tabby (281)", c)
	}
	diffCat := eval("compare the overlays", diffJS)
	if diffCat < 5 {
		t.Errorf("the overlay hardly changed from the dog to the cat: mean difference %.2f", diffCat)
	}
	t.Logf("overlay: mean pixel difference %.1f (of 255) from bull mastiff to tabby", diffCat)

	eval("keep the overlay", keepJS)
	do("move the opacity slider", chromedp.SetValue(chromedp.CSS(`#alpha`), "1"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('alpha').dispatchEvent(new Event('input'))`))
	if d := eval("compare the blends", diffJS); d < 5 {
		t.Errorf("the opacity slider changed the overlay by %.2f on average", d)
	}

	do("add a method", chromedp.Click(chromedp.CSS(`#methods input[value="gradcam++"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#panels figure[data-method="gradcam++"][data-class="281"] canvas`)))
	if n := eval("count the panels", `document.querySelectorAll('#panels figure').length`); n != 2 {
		t.Errorf("%g panels after adding gradcam++, want 2", n)
	}

	do("reset the opacity", chromedp.SetValue(chromedp.CSS(`#alpha`), "0.5"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('alpha').dispatchEvent(new Event('input'))`))
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	shotPath := filepath.Join(artifacts, "browser.png")
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shotPath)

	do("download the figure", chromedp.Click(chromedp.CSS(`#download`)))
	select {
	case guid := <-downloaded:
		path := filepath.Join(artifacts, guid)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		cfg, err := png.DecodeConfig(f)
		if err != nil {
			t.Fatalf("downloaded figure: %v", err)
		}
		// Two 640-wide panels side by side with 12-pixel gaps.
		if cfg.Width != 2*640+3*12 {
			t.Errorf("figure is %dx%d, want %d wide", cfg.Width, cfg.Height, 2*640+3*12)
		}
		figPath := filepath.Join(artifacts, "figure.png")
		os.Rename(path, figPath)
		t.Logf("figure: %s (%dx%d)", figPath, cfg.Width, cfg.Height)
	case <-time.After(30 * time.Second):
		t.Error("no download of the figure")
	}

	// Dropping a photo on the drop zone starts over with its top class.
	do("drop the photo", chromedp.Evaluate[chromedp.Void](`(() => {
			const dt = new DataTransfer();
			dt.items.add(document.getElementById('file').files[0]);
			document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
		})()`),
		chromedp.WaitVisible(chromedp.CSS(`body[data-explained="243"] #panels figure[data-class="243"] canvas`)))

	mu.Lock()
	defer mu.Unlock()
	if len(outside) > 0 {
		t.Errorf("the page made requests outside the server: %v", outside)
	}
	if len(exceptions) > 0 {
		t.Errorf("the page threw: %v", exceptions)
	}
}

func ptr[T any](v T) *T { return &v }
