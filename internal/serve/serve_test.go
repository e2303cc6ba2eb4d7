package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stella-ops/stella-export/internal/bundle"
)

var created = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// writeBundle packages a payload of random bytes (so that gzip cannot
// shrink it and ranges cover real data) into dir/name.
func writeBundle(t *testing.T, dir, name, id string, seed uint64) []byte {
	t.Helper()
	src := t.TempDir()
	payload := make([]byte, 300<<10)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range payload {
		payload[i] = byte(r.Uint32())
	}
	os.WriteFile(filepath.Join(src, "data.bin"), payload, 0o644)
	os.WriteFile(filepath.Join(src, "provenance.json"), []byte(`{"id":"`+id+`"}`+"\n"), 0o644)
	var b bytes.Buffer
	if _, err := bundle.WriteDir(context.Background(), &b, bundle.DirConfig{Dir: src, ExportID: id, CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func newServer(t *testing.T, dir, token string) *httptest.Server {
	t.Helper()
	var warns []string
	ix, err := NewIndex(context.Background(), dir, Options{Warn: func(s string) { warns = append(warns, s) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("warnings: %q", warns)
	srv := httptest.NewServer(Handler(ix, token, io.Discard))
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func TestDownloadRanges(t *testing.T) {
	dir := t.TempDir()
	whole := writeBundle(t, dir, "exports/acme/exp-1/bundle.tgz", "exp-1", 1)
	srv := newServer(t, dir, "")
	url := srv.URL + "/exports/exp-1/download"
	n := len(whole)

	res, body := get(t, url)
	if res.StatusCode != 200 || !bytes.Equal(body, whole) {
		t.Fatalf("whole: %s, %d bytes", res.Status, len(body))
	}
	for h, want := range map[string]string{
		"ETag": `"` + sha(whole) + `"`, "X-Export-Digest": "sha256:" + sha(whole), "X-Export-Length": strconv.Itoa(n),
		"Last-Modified": "Tue, 04 Mar 2025 05:06:07 GMT", "Accept-Ranges": "bytes", "Content-Type": "application/gzip",
	} {
		if got := res.Header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}

	for _, tc := range []struct {
		name, rng string
		from, to  int // inclusive
	}{
		{"first bytes", "bytes=0-99", 0, 99},
		{"last bytes", "bytes=-100", n - 100, n - 1},
		{"middle", "bytes=1000-70999", 1000, 70999},
		{"open end", "bytes=" + strconv.Itoa(n-10) + "-", n - 10, n - 1},
	} {
		res, body := get(t, url, "Range", tc.rng)
		if res.StatusCode != http.StatusPartialContent || !bytes.Equal(body, whole[tc.from:tc.to+1]) {
			t.Errorf("%s: %s, %d bytes", tc.name, res.Status, len(body))
		}
		wantCR := "bytes " + strconv.Itoa(tc.from) + "-" + strconv.Itoa(tc.to) + "/" + strconv.Itoa(n)
		if got := res.Header.Get("Content-Range"); got != wantCR {
			t.Errorf("%s: Content-Range %q, want %q", tc.name, got, wantCR)
		}
		if res.Header.Get("X-Export-Length") != strconv.Itoa(n) {
			t.Errorf("%s: X-Export-Length is not the whole bundle's", tc.name)
		}
	}

	// Multiple ranges: multipart/byteranges, each part its bytes.
	res, body = get(t, url, "Range", "bytes=0-9,500-599,-5")
	mt, params, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	if res.StatusCode != http.StatusPartialContent || mt != "multipart/byteranges" {
		t.Fatalf("multiple ranges: %s, %s", res.Status, res.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for _, want := range [][]byte{whole[0:10], whole[500:600], whole[n-5:]} {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(p)
		if !bytes.Equal(got, want) {
			t.Errorf("part %s: %d bytes differ", p.Header.Get("Content-Range"), len(got))
		}
	}

	for _, rng := range []string{"bytes=" + strconv.Itoa(n) + "-", "bytes=" + strconv.Itoa(n+100) + "-" + strconv.Itoa(n+200)} {
		if res, _ := get(t, url, "Range", rng); res.StatusCode != http.StatusRequestedRangeNotSatisfiable {
			t.Errorf("%s: %s, want 416", rng, res.Status)
		} else if cr := res.Header.Get("Content-Range"); cr != "bytes */"+strconv.Itoa(n) {
			t.Errorf("%s: Content-Range %q", rng, cr)
		}
	}

	// Conditional requests.
	if res, body := get(t, url, "If-None-Match", `"`+sha(whole)+`"`); res.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match: %s, %d bytes", res.Status, len(body))
	}
	if res, _ := get(t, url, "If-None-Match", `"0000"`); res.StatusCode != 200 {
		t.Errorf("If-None-Match other: %s", res.Status)
	}
	if res, body := get(t, url, "Range", "bytes=0-9", "If-Range", `"0000"`); res.StatusCode != 200 || len(body) != n {
		t.Errorf("If-Range stale: %s, %d bytes, want the whole bundle", res.Status, len(body))
	}
}

func TestDocumentsAndList(t *testing.T) {
	dir := t.TempDir()
	whole := writeBundle(t, dir, "a.tgz", "exp-a", 1)
	writeBundle(t, dir, "sub/b.tgz", "exp-b", 2)
	os.WriteFile(filepath.Join(dir, "a.tgz.sig"), []byte("detached-signature"), 0o644)
	os.WriteFile(filepath.Join(dir, "junk.tgz"), []byte("not a bundle"), 0o644)
	srv := newServer(t, dir, "")

	res, body := get(t, srv.URL+"/exports")
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("list: %s", res.Status)
	}
	want := `{"exports":[{"createdAtUtc":"2025-03-04T05:06:07Z","exportId":"exp-a","name":"a.tgz","profile":"directory","provenance":true,` +
		`"root":`
	if !strings.HasPrefix(string(body), want) || !strings.Contains(string(body), `"sha256":"`+sha(whole)+`","signature":"detached","sizeBytes":`+strconv.Itoa(len(whole))) ||
		!strings.Contains(string(body), `"exportId":"exp-b","name":"sub/b.tgz"`) || strings.Contains(string(body), "junk") {
		t.Errorf("list:\n%s", body)
	}
	if res, body := get(t, srv.URL+"/exports/exp-a/manifest"); res.StatusCode != 200 || !strings.Contains(string(body), `"exportId":"exp-a"`) {
		t.Errorf("manifest: %s %s", res.Status, body)
	}
	if res, body := get(t, srv.URL+"/exports/exp-a/provenance"); res.StatusCode != 200 || string(body) != `{"id":"exp-a"}`+"\n" {
		t.Errorf("provenance: %s %s", res.Status, body)
	}
	if res, body := get(t, srv.URL+"/exports/exp-a/signature"); res.StatusCode != 200 || string(body) != "detached-signature" {
		t.Errorf("signature: %s %s", res.Status, body)
	}
	if res, _ := get(t, srv.URL+"/exports/exp-b/signature"); res.StatusCode != 404 {
		t.Errorf("no signature: %s", res.Status)
	}
	if res, _ := http.Post(srv.URL+"/exports", "text/plain", nil); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", res.Status)
	}
}

// TestTraversal: nothing outside the index is reachable, however the path
// is spelled; the server answers 404 and never redirects.
func TestTraversal(t *testing.T) {
	dir := t.TempDir()
	writeBundle(t, dir, "in/a.tgz", "exp-a", 1)
	os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("secret"), 0o644)
	srv := newServer(t, dir, "")
	for _, p := range []string{
		"/exports/../secret.txt", "/exports/..%2fsecret.txt/download", "/exports/%2e%2e/download",
		"/exports/exp-a/../../secret.txt", "/exports/..%2F..%2Fetc%2Fpasswd/download", "/secret.txt",
		"/in/a.tgz", "/exports/a.tgz/download", "/exports/in%2Fa.tgz/download", "//exports", "/exports/exp-a/download/",
		"/exports/exp-a/./download", "/exports/exp-a%00/download",
	} {
		out, err := exec.Command("curl", "-s", "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", srv.URL+p).Output()
		if err != nil {
			t.Fatalf("curl %s: %v", p, err)
		}
		if string(out) != "404" {
			t.Errorf("%s: %s, want 404", p, out)
		}
	}
}

func TestToken(t *testing.T) {
	dir := t.TempDir()
	writeBundle(t, dir, "a.tgz", "exp-a", 1)
	srv := newServer(t, dir, "s3cret-token-0123456789")
	if res, _ := get(t, srv.URL+"/exports"); res.StatusCode != 401 || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: %s", res.Status)
	}
	if res, _ := get(t, srv.URL+"/exports", "Authorization", "Bearer wrong"); res.StatusCode != 401 {
		t.Errorf("wrong token: %s", res.Status)
	}
	if res, _ := get(t, srv.URL+"/exports/exp-a/download", "Authorization", "Bearer s3cret-token-0123456789"); res.StatusCode != 200 {
		t.Errorf("token: %s", res.Status)
	}
}

// TestResumeWithCurl: a download cut short and resumed with curl -C -
// gives the bundle's bytes.
func TestResumeWithCurl(t *testing.T) {
	dir := t.TempDir()
	whole := writeBundle(t, dir, "a.tgz", "exp-a", 3)
	srv := newServer(t, dir, "")
	url := srv.URL + "/exports/exp-a/download"
	out := filepath.Join(t.TempDir(), "a.tgz")
	if b, err := exec.Command("curl", "-sSf", "-r", "0-99999", "-o", out, url).CombinedOutput(); err != nil {
		t.Fatalf("first part: %v %s", err, b)
	}
	if st, _ := os.Stat(out); st.Size() != 100000 {
		t.Fatalf("first part: %d bytes", st.Size())
	}
	if b, err := exec.Command("curl", "-sSf", "-C", "-", "-o", out, url).CombinedOutput(); err != nil {
		t.Fatalf("resume: %v %s", err, b)
	}
	got, _ := os.ReadFile(out)
	if sha(got) != sha(whole) {
		t.Errorf("resumed download: SHA-256 %s, want %s", sha(got), sha(whole))
	}
}

// TestChangedRefused: a bundle replaced after indexing is not served.
func TestChangedRefused(t *testing.T) {
	dir := t.TempDir()
	writeBundle(t, dir, "a.tgz", "exp-a", 1)
	srv := newServer(t, dir, "")
	writeBundle(t, dir, "a.tgz", "exp-a", 9)
	if res, _ := get(t, srv.URL+"/exports/exp-a/download"); res.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("changed bundle: %s, want 503", res.Status)
	}
}

// TestDuplicateIDs: two different bundles with one export id are both
// left out; symbolic links are not followed.
func TestDuplicateIDs(t *testing.T) {
	dir := t.TempDir()
	writeBundle(t, dir, "a.tgz", "exp-a", 1)
	writeBundle(t, dir, "b.tgz", "exp-a", 2)
	other := t.TempDir()
	writeBundle(t, other, "c.tgz", "exp-c", 3)
	os.Symlink(filepath.Join(other, "c.tgz"), filepath.Join(dir, "c.tgz"))
	os.Symlink(other, filepath.Join(dir, "linked"))
	ix, err := NewIndex(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ix.Len() != 0 {
		t.Errorf("%d exports served, want none: %+v", ix.Len(), ix.Exports())
	}
}

// TestShutdown: Serve returns once its context is cancelled.
func TestShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, http.NotFoundHandler(), io.Discard) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return within 10 s of cancellation")
	}
}
