package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"quell.dev/quell/internal/console"
	"quell.dev/quell/internal/testenv"
)

const chromium = "/usr/bin/chromium"

// browser starts headless Chromium from Debian with a fresh profile and
// records every request it makes and every console message.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string
	console  []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is not installed under CI: %v", err)
		}
		t.Skipf("no %s: %v", chromium, err)
	}
	// A fresh profile, removed once the browser's last process let go of
	// it (t.TempDir's cleanup may race Chromium's helpers still writing).
	profile, err := os.MkdirTemp("", "quell-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(profile), chromedp.WindowSize(1280, 900))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithErrorf(func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "unhandled node event") { // newer protocol events this client does not model
			t.Logf("chromedp: %s", msg)
		}
	}))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
		for range 50 {
			if os.RemoveAll(profile) == nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("chromium profile %s left behind", profile)
	})
	b := &browser{ctx: ctx}
	chromedp.ListenTarget(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, e.Request.URL)
		case *runtime.EventConsoleAPICalled:
			for _, a := range e.Args {
				b.console = append(b.console, string(e.Type)+": "+string(a.Value)+a.Description)
			}
		case *runtime.EventExceptionThrown:
			b.console = append(b.console, "exception: "+e.ExceptionDetails.Text+" "+fmt.Sprint(e.ExceptionDetails.Exception))
		}
	})
	if err := chromedp.Run(ctx, network.Enable(), runtime.Enable()); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return b
}

// run runs actions with a deadline, failing the test with what the page
// shows when they do not complete.
func (b *browser) run(t *testing.T, what string, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Run(ctx, actions...); err != nil {
		var text string
		_ = chromedp.Run(b.ctx, chromedp.Text("body", &text, chromedp.ByQuery))
		t.Fatalf("%s: %v\npage:\n%s\nconsole: %v", what, err, text, b.console)
	}
}

// screenshot saves the page as name.png in the run's screenshot directory.
func (b *browser) screenshot(t *testing.T, dir, name string) {
	t.Helper()
	var png []byte
	b.run(t, "screenshot "+name, chromedp.FullScreenshot(&png, 100))
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func screenshotDir(t *testing.T) string {
	dir := os.Getenv("QUELL_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "test-output", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(dir)
	t.Logf("screenshots in %s", abs)
	return dir
}

// TestConsoleInBrowser drives the console in headless Chromium against a
// real server and control plane: sign in, see an incident created by a
// posted alert appear without a reload, open it, approve the pending
// suspension, watch it become contained, restore it and see the
// Deployment's replicas back; every page is screenshotted, at 1280 px and
// on a narrow screen, and the browser never leaves the server's origin.
func TestConsoleInBrowser(t *testing.T) {
	b := newBrowser(t)
	c := testenv.Cluster(t)
	cs, err := c.Client()
	if err != nil {
		t.Fatal(err)
	}
	ns := testenv.Namespace(t, cs, "console")
	pod := newDeployment(t, cs, ns, "miner", 2)
	dir := t.TempDir()
	pbFile := filepath.Join(dir, "playbooks.yaml")
	if err := os.WriteFile(pbFile, []byte(`playbooks:
  - name: miners-need-approval
    match: {rules: ["*Cryptominer*"]}
    steps:
      - validate
      - enrich
      - action: capture-evidence
      - action: suspend-workload
        approve: required
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "quell.yaml")
	if err := os.WriteFile(cfg, []byte("response:\n  playbooks: ["+pbFile+"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const token = "console-test-token-0123456789"
	url := startServer(t, "--store", "sqlite://"+filepath.Join(dir, "q.db"), "--auth-token-file", writeToken(t, dir, token),
		"--kubeconfig", c.Kubeconfig, "--mode", "enforce", "--config", cfg)
	shots := screenshotDir(t)

	resp, err := http.Get(url + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Content-Security-Policy"); got != console.CSP {
		t.Errorf("console CSP = %q", got)
	}

	// Sign in, by keyboard: the token and Enter.
	b.run(t, "open the console", chromedp.Navigate(url+"/"), chromedp.WaitVisible("#token", chromedp.ByID))
	b.screenshot(t, shots, "01-sign-in")
	b.run(t, "a wrong token", chromedp.SendKeys("#token", "not-a-token-0123456789\n", chromedp.ByID),
		chromedp.WaitVisible("#login-error", chromedp.ByID), chromedp.Poll(`document.querySelector('#login-error').textContent.includes('Sign-in failed')`, nil))
	b.run(t, "sign in", chromedp.Evaluate(`document.querySelector("#token").value = ""`, nil), chromedp.SendKeys("#token", token+"\n", chromedp.ByID), chromedp.WaitVisible("#nav", chromedp.ByID),
		chromedp.WaitVisible("#open-total", chromedp.ByID))

	// The incidents list; an alert posted now appears without a reload.
	b.run(t, "incidents", chromedp.Navigate(url+"/ui/#/incidents"), chromedp.WaitVisible("#incident-rows", chromedp.ByID),
		chromedp.Evaluate(`window.quellNoReload = true`, nil))
	id := postAlert(t, url, token, ns, pod)
	row := fmt.Sprintf("#inc-%d", id)
	b.run(t, "the new incident appears live", chromedp.WaitVisible(row, chromedp.ByQuery))
	var same bool
	b.run(t, "no reload", chromedp.Evaluate(`window.quellNoReload === true`, &same))
	if !same {
		t.Error("the page reloaded to show the incident")
	}
	b.screenshot(t, shots, "02-incidents")

	// The incident: a suspension awaits approval.
	b.run(t, "open the incident", chromedp.Click(row+" a", chromedp.ByQuery), chromedp.WaitVisible("#pending", chromedp.ByID),
		chromedp.WaitVisible("#timeline", chromedp.ByID))
	var digests int
	b.run(t, "evidence digests", chromedp.Evaluate(`document.querySelectorAll('.t-evidence details').forEach((d) => { d.open = true }); `+
		`[...document.querySelectorAll('.evidence code')].filter((c) => /^[0-9a-f]{64}$/.test(c.textContent)).length`, &digests))
	if digests == 0 {
		t.Error("no evidence item shows its SHA-256 digest")
	}
	b.screenshot(t, shots, "03-incident-pending")
	if r := deployment(t, cs, ns, "miner"); *r.Spec.Replicas != 2 {
		t.Fatalf("replicas %d before approval, want 2", *r.Spec.Replicas)
	}
	// Approve asks first; cancelling changes nothing.
	b.run(t, "approve, cancelled", chromedp.Click(`//button[text()="Approve"]`), chromedp.WaitVisible("#confirm", chromedp.ByID),
		chromedp.Click("#confirm-cancel", chromedp.ByID), chromedp.WaitNotVisible("#confirm", chromedp.ByID))
	time.Sleep(300 * time.Millisecond)
	if r := deployment(t, cs, ns, "miner"); *r.Spec.Replicas != 2 {
		t.Fatalf("a cancelled approval acted: replicas %d", *r.Spec.Replicas)
	}
	b.run(t, "approve", chromedp.Click(`//button[text()="Approve"]`), chromedp.WaitVisible("#confirm", chromedp.ByID),
		chromedp.Click("#confirm-ok", chromedp.ByID),
		chromedp.Poll(`document.querySelector('#state') && document.querySelector('#state').textContent === 'contained'`, nil, chromedp.WithPollingTimeout(25*time.Second)))
	if r := deployment(t, cs, ns, "miner"); *r.Spec.Replicas != 0 {
		t.Errorf("contained but replicas %d", *r.Spec.Replicas)
	}
	b.screenshot(t, shots, "04-incident-contained")

	// Restore brings the replicas back.
	b.run(t, "restore", chromedp.Click(`//button[text()="Restore"]`), chromedp.WaitVisible("#confirm", chromedp.ByID),
		chromedp.Click("#confirm-ok", chromedp.ByID),
		chromedp.Poll(`document.querySelector('#result') && document.querySelector('#result').textContent.startsWith('Restore: done')`, nil, chromedp.WithPollingTimeout(20*time.Second)))
	waitFor(t, 20*time.Second, "replicas back to 2", func() bool { return *deployment(t, cs, ns, "miner").Spec.Replicas == 2 })
	b.run(t, "the restore in the timeline", chromedp.Poll(`document.querySelector('#timeline').textContent.includes('restore')`, nil, chromedp.WithPollingTimeout(10*time.Second)))
	b.screenshot(t, shots, "05-incident-restored")

	// The other pages.
	b.run(t, "overview", chromedp.Click(`#nav a[href="#/"]`, chromedp.ByQuery), chromedp.WaitVisible("#open-total", chromedp.ByID))
	b.screenshot(t, shots, "06-overview")
	b.run(t, "rules and playbooks", chromedp.Click(`#nav a[href="#/rules"]`, chromedp.ByQuery), chromedp.WaitVisible("#playbooks", chromedp.ByID),
		chromedp.Poll(`document.querySelector('#playbooks').textContent.includes('miners-need-approval')`, nil))
	b.screenshot(t, shots, "07-rules-playbooks")

	// A narrow screen: nothing wider than the viewport.
	var overflow bool
	b.run(t, "narrow", chromedp.EmulateViewport(390, 844), chromedp.Navigate(url+"/ui/#/incidents"), chromedp.WaitVisible(row, chromedp.ByQuery),
		chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow))
	if overflow {
		t.Error("the incidents page is wider than a 390 px screen")
	}
	b.screenshot(t, shots, "08-incidents-narrow")

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.requests {
		if !strings.HasPrefix(u, url+"/") && !strings.HasPrefix(u, "blob:"+url) && !strings.HasPrefix(u, "data:") {
			t.Errorf("the console requested %s, outside %s", u, url)
		}
	}
	for _, m := range b.console {
		if strings.Contains(m, "Content Security Policy") || strings.HasPrefix(m, "exception") {
			t.Errorf("browser console: %s", m)
		}
	}
}
