package verify

import (
	"fmt"
	"io"
	"strings"

	"github.com/stella-ops/stella-export/internal/canonjson"
)

// WriteText prints the human report.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	if r.Path != "" {
		fmt.Fprintf(&b, "bundle:    %s\n", r.Path)
	}
	fmt.Fprintf(&b, "sha256:    %s\n", r.SHA256)
	if r.Root != "" {
		fmt.Fprintf(&b, "root:      %s\n", r.Root)
	}
	if r.ExportID != "" || r.Profile != "" {
		fmt.Fprintf(&b, "export:    %s (profile %s)\n", r.ExportID, r.Profile)
	}
	fmt.Fprintf(&b, "files:     %d (%d bytes)\n", r.Files, r.Bytes)
	if r.ModTime != "" {
		fmt.Fprintf(&b, "mtime:     %s\n", r.ModTime)
	}
	writeInner(&b, r, "")
	if r.Decrypted > 0 {
		fmt.Fprintf(&b, "decrypted: %d file%s, plaintext SHA-256 and size as the plaintext manifest lists\n", r.Decrypted, plural(r.Decrypted))
	}
	for _, sc := range r.Signatures {
		line := fmt.Sprintf("signature: %s %s (%s of %s)", strings.ToUpper(sc.Status), sc.Path, sc.Kind, sc.Signs)
		if sc.Detail != "" && sc.Status != "failed" {
			line += ": " + sc.Detail
		}
		fmt.Fprintln(&b, line)
	}
	if l := r.Log; l != nil {
		fmt.Fprintf(&b, "log:       %s entry %d of %s, size %d, root %s", strings.ToUpper(l.Status), l.Index, l.Origin, l.Size, l.Root)
		if l.NewerRoot != "" {
			fmt.Fprintf(&b, "; held checkpoint size %d, root %s", l.NewerSize, l.NewerRoot)
		}
		b.WriteString("\n")
	}
	for _, p := range r.AllProblems() {
		fmt.Fprintf(&b, "FAILED     %s\n", p)
	}
	if r.OK {
		fmt.Fprintf(&b, "OK root %s\n", r.Root)
	} else {
		n := len(r.AllProblems())
		fmt.Fprintf(&b, "FAILED: %d check%s failed\n", n, plural(n))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeInner(b *strings.Builder, r *Report, prefix string) {
	for _, in := range r.Inner {
		status := "OK"
		if !in.OK {
			status = "FAILED"
		}
		fmt.Fprintf(b, "inner:     %s%s: %s root %s (%d files)\n", prefix, in.Path, status, in.Root, in.Files)
		writeInner(b, in, prefix+in.Path+"!")
	}
	for _, s := range r.InnerSkipped {
		fmt.Fprintf(b, "opaque:    %s%s: not a bundle (no checksums.txt), checked by digest only\n", prefix, s)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// WriteJSON prints the report as canonical JSON and one LF.
func WriteJSON(w io.Writer, r *Report) error {
	b, err := canonjson.MarshalLine(r)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
