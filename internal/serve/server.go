package serve

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/stella-ops/stella-export/internal/canonjson"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/safefile"
)

// Timeouts of every connection. A download may take long, but each write
// must make progress within WriteIdle.
const (
	ReadHeaderTimeout = 10 * time.Second
	ReadTimeout       = 30 * time.Second
	IdleTimeout       = 60 * time.Second
	WriteIdle         = 60 * time.Second
	ShutdownGrace     = 4 * time.Second // under commands.ForceExitAfter
	maxHeaderBytes    = 16 << 10
)

// Handler serves ix. A non-empty token is required as
// "Authorization: Bearer TOKEN" on every request. A bundle that changed on
// disk is reported to errLog.
func Handler(ix *Index, token string, errLog io.Writer) http.Handler {
	logger := log.New(errLog, "stella-export: serve: ", 0)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /exports", func(w http.ResponseWriter, r *http.Request) { list(w, r, ix) })
	mux.HandleFunc("GET /exports/{id}/download", func(w http.ResponseWriter, r *http.Request) { download(w, r, ix, logger) })
	for _, doc := range []string{"manifest", "provenance", "signature"} {
		mux.HandleFunc("GET /exports/{id}/"+doc, func(w http.ResponseWriter, r *http.Request) { document(w, r, ix, doc) })
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w = &progressWriter{ResponseWriter: w, rc: http.NewResponseController(w)}
		w.(*progressWriter).extend()
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if token != "" && !authorized(r, token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="stella-export"`)
			http.Error(w, "401 unauthorized: send Authorization: Bearer TOKEN", http.StatusUnauthorized)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "405 method not allowed: the server is read-only", http.StatusMethodNotAllowed)
			return
		}
		// A path that is not already clean (.., //, a trailing /.) is a
		// probe, not a resource: 404, never the redirect ServeMux would
		// send to the cleaned path.
		if p := r.URL.Path; p == "" || p != path.Clean(p) {
			http.NotFound(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func authorized(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// progressWriter extends the connection's write deadline before every
// write: a client that stops reading is cut off after WriteIdle, one that
// reads steadily may take as long as the download needs.
type progressWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (p *progressWriter) extend() { _ = p.rc.SetWriteDeadline(time.Now().Add(WriteIdle)) }

func (p *progressWriter) Write(b []byte) (int, error) {
	p.extend()
	return p.ResponseWriter.Write(b)
}

func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

func list(w http.ResponseWriter, r *http.Request, ix *Index) {
	b, err := canonjson.MarshalLine(struct {
		Exports []*Export `json:"exports"`
	}{ix.Exports()})
	if err != nil {
		http.Error(w, "500 internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("ETag", strconv.Quote(digest.Sum(b).Hex()))
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

func lookup(w http.ResponseWriter, r *http.Request, ix *Index) *Export {
	x := ix.Lookup(r.PathValue("id"))
	if x == nil {
		http.Error(w, "404 no such export", http.StatusNotFound)
	}
	return x
}

func download(w http.ResponseWriter, r *http.Request, ix *Index, logger *log.Logger) {
	x := lookup(w, r, ix)
	if x == nil {
		return
	}
	f, err := safefile.OpenNoFollow(x.path)
	if err != nil {
		unavailable(w, logger, x, err)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		unavailable(w, logger, x, err)
		return
	}
	if !os.SameFile(st, x.info) || st.Size() != x.info.Size() || !st.ModTime().Equal(x.info.ModTime()) {
		unavailable(w, logger, x, errors.New("changed since it was verified"))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/gzip")
	h.Set("Content-Disposition", `attachment; filename="`+x.ExportID+`.tgz"`)
	h.Set("ETag", strconv.Quote(x.SHA256))
	h.Set("X-Export-Digest", "sha256:"+x.SHA256)
	h.Set("X-Export-Length", strconv.FormatInt(x.Size, 10))
	h.Set("X-Export-Root", x.Root)
	http.ServeContent(w, r, "", x.created, io.NewSectionReader(f, 0, x.Size))
}

func unavailable(w http.ResponseWriter, logger *log.Logger, x *Export, err error) {
	logger.Printf("%s: %s: %v; restart serve to verify it again", x.ExportID, x.Name, err)
	http.Error(w, "503 the bundle changed on disk since it was verified", http.StatusServiceUnavailable)
}

func document(w http.ResponseWriter, r *http.Request, ix *Index, doc string) {
	x := lookup(w, r, ix)
	if x == nil {
		return
	}
	b, ctype := x.manifest, "application/json"
	switch doc {
	case "provenance":
		b = x.provenance
	case "signature":
		b, ctype = x.signature, "application/octet-stream"
		if b != nil {
			w.Header().Set("X-Export-Signature", x.Signature)
		}
	}
	if b == nil {
		http.Error(w, fmt.Sprintf("404 export %s has no %s", x.ExportID, doc), http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("ETag", strconv.Quote(digest.Sum(b).Hex()))
	http.ServeContent(w, r, "", x.created, bytes.NewReader(b))
}

// Serve serves h on ln until ctx is done, then stops accepting, lets the
// requests in flight finish for up to ShutdownGrace and closes the rest.
// Server errors go to errLog.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, errLog io.Writer) error {
	srv := &http.Server{
		Handler: h, ReadHeaderTimeout: ReadHeaderTimeout, ReadTimeout: ReadTimeout,
		IdleTimeout: IdleTimeout, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: log.New(errLog, "stella-export: serve: ", 0),
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	<-done
	return nil
}
