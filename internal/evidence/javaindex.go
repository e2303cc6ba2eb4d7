package evidence

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/javadb"
)

// suffix is the file name ending of a type's documents.
func (t Type) suffix() string {
	if t == JavaIndex {
		return ".jsonl"
	}
	return ".json"
}

// readJavaIndex hashes one file of the Maven artefact index and checks
// every line as javadb.ParseIndex reads it. Each bad line is recorded in
// j.lines as "<path>:<line>" with the field and reason, and the file stays
// selected with its good lines (run reads it again and skips the same
// lines); without --skip-invalid any bad line makes the plan fail. Its id
// is its path below java-index/, its ecosystem maven.
func readJavaIndex(f io.Reader, j *job, sel *selection) (*Doc, string, error) {
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(f, h)}
	err := javadb.ParseIndex(cr, j.rel, func(javadb.Entry) error { return nil }, func(le *javadb.LineError) error {
		reason := le.Reason
		if le.Field != "" {
			reason = le.Field + ": " + reason
		}
		j.lines = append(j.lines, Invalid{Path: j.rel + ":" + strconv.Itoa(le.Line), Reason: reason})
		return nil
	})
	if err != nil {
		var le *javadb.LineError
		if errors.As(err, &le) {
			return nil, "", err
		}
		return nil, "", &ioError{fmt.Errorf("read evidence %s: %w", j.rel, err)}
	}
	id := strings.TrimPrefix(j.rel, path.Join(j.tenant, JavaIndex.Dir())+"/")
	d := &Doc{Type: JavaIndex, Tenant: j.tenant, ID: id, Path: j.rel, SHA256: digest.Of(h).String(), Size: cr.n,
		Ecosystems: []string{"maven"}, Products: []string{}, Format: "java-index"}
	return d, sel.decide(d, nil, false), nil
}
