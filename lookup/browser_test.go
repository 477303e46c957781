package lookup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/internal/testserver"
)

// chromium finds Debian's chromium, installing it when missing and root. Under CI=true a
// browser that cannot be had fails the test; elsewhere it skips.
func chromium(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	var why string
	if os.Getuid() != 0 {
		why = "chromium is not installed and this is not root"
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		install := func() ([]byte, error) {
			cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium")
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			return cmd.CombinedOutput()
		}
		out, err := install()
		if err != nil {
			exec.CommandContext(ctx, "apt-get", "update", "-q").Run()
			out, err = install()
		}
		if p, lerr := exec.LookPath("chromium"); lerr == nil {
			return p
		}
		why = fmt.Sprintf("apt-get install chromium: %v\n%s", err, lastLines(out, 5))
	}
	testserver.Unavailable(t, "no browser: %s", why)
	return ""
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestPageInABrowser types an address into the page in a real headless Chromium, checks the
// subject, fingerprint and expiry it shows, downloads the .cer and the .p7c, and looks up an
// address without a certificate.
func TestPageInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser: not in -short")
	}
	exe := chromium(t)
	f := newFixture(t, config.Lookup{})
	x := f.aliceX
	sum := sha256.Sum256(f.alice)
	wantFP := strings.ToUpper(fmt.Sprintf("% x", sum[:]))
	wantFP = strings.ReplaceAll(wantFP, " ", ":")

	downloads := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // root in a container
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		// Chromium leaves files of its own in $TMPDIR after it exits: not in /tmp.
		chromedp.Env("TMPDIR="+t.TempDir()),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("no-proxy-server", true),
		// Loopback only: every other host name resolves to nothing.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer bcancel()

	text := func(sel chromedp.CSS) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	attr := func(id chromedp.ID, name string) string {
		t.Helper()
		a, err := chromedp.Run(bctx, chromedp.AttributeValue(id, name))
		if err != nil {
			t.Fatalf("%s of #%s: %v", name, id, err)
		}
		return a.Value
	}
	screenshot := func(name string) {
		t.Helper()
		dir := os.Getenv("LOOKUP_SCREENSHOT_DIR")
		if dir == "" {
			return
		}
		b, err := chromedp.Run(bctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		os.WriteFile(filepath.Join(dir, name), b, 0o644)
	}

	err := chromedp.Do(bctx,
		chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
				Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads,
			})
			return err
		}),
		chromedp.Navigate(f.url+"/"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), "Alice@Corp.Example"),
		chromedp.Click(chromedp.ID("go")),
		chromedp.WaitVisible(chromedp.ID("result")),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	status, subject, fingerprint, expiry := text("#status"), text(".subject"), text(".fingerprint"), text(".expiry")
	cerHref, cerName, p7cHref := attr("cer", "href"), attr("cer", "download"), attr("p7c", "href")
	screenshot("found.png")
	if subject != "CN=alice@corp.example" || fingerprint != wantFP || !strings.Contains(expiry, fmt.Sprint(x.NotAfter.UTC().Year())) {
		t.Errorf("the page shows subject %q, fingerprint %q, expiry %q; want %q, %q, %v", subject, fingerprint, expiry, x.Subject, wantFP, x.NotAfter)
	}
	if !strings.Contains(status, "certificate found") {
		t.Errorf("status %q", status)
	}
	if !strings.HasSuffix(cerHref, "/certs/Alice%40Corp.Example?format=der") || cerName != "Alice@Corp.Example.cer" || !strings.HasSuffix(p7cHref, "?format=p7c") {
		t.Errorf("download links %q (%q), %q", cerHref, cerName, p7cHref)
	}
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.ID("cer")), chromedp.Click(chromedp.ID("p7c"))); err != nil {
		t.Fatalf("downloads: %v", err)
	}
	cer := waitForFile(t, filepath.Join(downloads, "Alice@Corp.Example.cer"))
	if !bytes.Equal(cer, f.alice) {
		t.Error("the downloaded .cer is not Alice's certificate")
	}
	p7c := waitForFile(t, filepath.Join(downloads, "Alice@Corp.Example.p7c"))
	if got := p7cCerts(t, p7c); len(got) != 1 || !bytes.Equal(got[0], f.alice) {
		t.Error("the downloaded .p7c does not hold Alice's certificate")
	}

	// Someone without a certificate: a clear message, and no result left on the page.
	err = chromedp.Do(bctx,
		chromedp.Evaluate[chromedp.Void](`document.getElementById("email").value = ""`),
		chromedp.SendKeys(chromedp.ID("email"), "carol@corp.example"),
		chromedp.Click(chromedp.ID("go")),
	)
	// Polled from here: chromedp's Poll builds its predicate with Function(), which the
	// page's CSP forbids, as it should.
	for deadline := time.Now().Add(10 * time.Second); err == nil; time.Sleep(100 * time.Millisecond) {
		var done bool
		done, err = chromedp.Run(bctx, chromedp.Evaluate[bool](`document.getElementById("status").textContent.startsWith("No certificate")`))
		if done {
			break
		}
		if time.Now().After(deadline) {
			err = fmt.Errorf("no not-found message within 10s; the page says %q", text("#status"))
		}
	}
	if err != nil {
		t.Fatalf("browser, not found: %v", err)
	}
	status = text("#status")
	resultHidden, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.getElementById("result").hidden`))
	if err != nil {
		t.Fatal(err)
	}
	screenshot("not-found.png")
	if status != "No certificate is published for carol@corp.example. Check the address, or ask the recipient to get one." || !resultHidden {
		t.Errorf("not found: status %q, result hidden %v", status, resultHidden)
	}

	// The page loads nothing from elsewhere: its CSP allows only itself.
	resp := f.get(t, "/")
	if csp := resp.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(string(resp.body), `src="http`) || strings.Contains(string(resp.body), `href="http`) {
		t.Errorf("CSP %q, or the page links elsewhere", csp)
	}
}

func waitForFile(t *testing.T, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 {
			return b
		}
		if time.Now().After(deadline) {
			entries, _ := os.ReadDir(filepath.Dir(path))
			t.Fatalf("no download at %s (the directory holds %v)", path, entries)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
