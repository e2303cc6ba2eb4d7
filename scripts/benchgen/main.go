// Command benchgen writes a deterministic mixed payload for benchmarks:
// JSON-like text (compresses ~6:1), random bytes (incompressible) and
// zero-filled files, from 1 KiB to 64 MiB each, in nested directories, until
// the requested total size is reached. The same flags always write the same
// bytes.
//
//	go run ./scripts/benchgen -size 1G -o /tmp/payload
//
// With -evidence it writes an evidence source instead (the layout of
// testdata/evidence/README.md, tenant "bench"): -docs small documents, 80%
// OSV advisories of 1-2 KiB, 10% OpenVEX and 10% CycloneDX SBOMs, at most
// 1000 files per directory; a policy snapshot snap-bench with findings for 5%
// as many documents; and -big CycloneDX SBOMs of exactly -big-size bytes each,
// streamed to disk. Every document comes from its own seeded random stream,
// so the output does not depend on the number of writers.
//
//	go run ./scripts/benchgen -evidence -docs 1000000 -o /tmp/evidence-1m
//	go run ./scripts/benchgen -evidence -docs 1000 -big 3 -big-size 500M -o /tmp/evidence-big
//	go run ./scripts/benchgen -evidence -osv-only -docs 100000 -o /tmp/osv-100k
//
// With -dataset it writes an HMIS-like client table instead: DIR/clients.csv
// (-rows rows after a header; personal_id, ssn, first_name, dob, gender,
// veteran_status, vawa_protected, project_type, entry_date, exit_date,
// monthly_income, updated_at; about 110 bytes a row) and its schema
// DIR/clients.schema.yaml (scripts/bench.sh --dataset exports it with
// stella-export run).
//
//	go run ./scripts/benchgen -dataset -rows 10000000 -o /tmp/hmis-10m
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

func main() {
	size := flag.String("size", "1G", "total payload size (K, M, G suffixes)")
	out := flag.String("o", "", "output directory (must not exist)")
	evidence := flag.Bool("evidence", false, "write an evidence source for tenant bench instead of a mixed payload")
	docs := flag.Int("docs", 1000000, "with -evidence: small documents (80% advisories, 10% VEX, 10% SBOMs)")
	big := flag.Int("big", 0, "with -evidence: number of big CycloneDX SBOMs")
	bigSize := flag.String("big-size", "500M", "with -evidence: size of each big SBOM (K, M, G suffixes)")
	osvOnly := flag.Bool("osv-only", false, "with -evidence: -docs OSV advisories only (the input of trivy:db)")
	encrypt := flag.String("encrypt", "", "encrypt the file -in to -o with stella-export's code: envelope (key in $STELLA_EXPORT_KMS_MASTER_KEY_HEX) or age (-recipient)")
	in := flag.String("in", "", "with -encrypt: the file to encrypt")
	recipient := flag.String("recipient", "", "with -encrypt age: the age recipient")
	dataset := flag.Bool("dataset", false, "write an HMIS-like client table (clients.csv, clients.schema.yaml) instead of a mixed payload")
	rows := flag.Int("rows", 1000000, "with -dataset: rows of clients.csv")
	flag.Parse()
	if *dataset {
		if *out == "" || *rows < 0 {
			fmt.Fprintln(os.Stderr, "usage: benchgen -dataset [-rows N] -o DIR")
			os.Exit(2)
		}
		if err := writeDataset(*out, *rows); err != nil {
			fmt.Fprintln(os.Stderr, "benchgen:", err)
			os.Exit(1)
		}
		return
	}
	if *encrypt != "" {
		if *in == "" || *out == "" {
			fmt.Fprintln(os.Stderr, "usage: benchgen -encrypt envelope|age -in FILE -o FILE.enc [-recipient age1...]")
			os.Exit(2)
		}
		if err := encryptFile(*encrypt, *in, *out, *recipient); err != nil {
			fmt.Fprintln(os.Stderr, "benchgen:", err)
			os.Exit(1)
		}
		return
	}
	if *evidence {
		n, err := parseSize(*bigSize)
		if err != nil || *out == "" || *docs < 0 || *big < 0 {
			fmt.Fprintln(os.Stderr, "usage: benchgen -evidence [-docs N] [-big N -big-size 500M] -o DIR")
			os.Exit(2)
		}
		if err := writeEvidence(evidenceConfig{out: *out, docs: *docs, big: *big, bigSize: n, osvOnly: *osvOnly}); err != nil {
			fmt.Fprintln(os.Stderr, "benchgen:", err)
			os.Exit(1)
		}
		return
	}
	total, err := parseSize(*size)
	if err != nil || *out == "" {
		fmt.Fprintln(os.Stderr, "usage: benchgen -size 1G -o DIR")
		os.Exit(2)
	}
	if err := os.Mkdir(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "benchgen:", err)
		os.Exit(1)
	}
	rng := rand.New(rand.NewPCG(42, 7))
	sizes := []int64{1 << 10, 16 << 10, 256 << 10, 1 << 20, 8 << 20, 64 << 20}
	var written int64
	for i := 0; written < total; i++ {
		n := min(sizes[pick(rng)], total-written)
		kind := []string{"json", "json", "rand", "zero"}[rng.IntN(4)]
		dir := filepath.Join(*out, fmt.Sprintf("d%02d", i%17), fmt.Sprintf("e%d", i%5))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			panic(err)
		}
		path := filepath.Join(dir, fmt.Sprintf("f%06d.%s", i, kind))
		if err := writeFile(path, kind, n, rng); err != nil {
			fmt.Fprintln(os.Stderr, "benchgen:", err)
			os.Exit(1)
		}
		written += n
	}
	fmt.Printf("%s: %d bytes\n", *out, written)
}

// pick chooses a size class: mostly small files, most bytes in large ones.
func pick(rng *rand.Rand) int {
	weights := []int{40, 25, 15, 10, 6, 4}
	r := rng.IntN(100)
	for i, w := range weights {
		if r < w {
			return i
		}
		r -= w
	}
	return len(weights) - 1
}

func writeFile(path, kind string, n int64, rng *rand.Rand) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	buf := make([]byte, 64<<10)
	for left := n; left > 0; {
		chunk := buf[:min(int64(len(buf)), left)]
		switch kind {
		case "rand":
			for i := 0; i+8 <= len(chunk); i += 8 {
				v := rng.Uint64()
				for j := 0; j < 8; j++ {
					chunk[i+j] = byte(v >> (8 * j))
				}
			}
		case "zero":
			clear(chunk)
		default:
			fillJSON(chunk, rng)
		}
		w.Write(chunk)
		left -= int64(len(chunk))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

var words = strings.Fields(`id affected package ecosystem ranges events introduced fixed severity CVSS_V3
summary details references advisory purl version modified published aliases GHSA CVE Go npm PyPI
crates.io Maven database_specific withdrawn`)

func fillJSON(b []byte, rng *rand.Rand) {
	i := 0
	for i < len(b) {
		s := fmt.Sprintf(`{"%s":"%s-%d","%s":%d},`+"\n", words[rng.IntN(len(words))], words[rng.IntN(len(words))],
			rng.IntN(100000), words[rng.IntN(len(words))], rng.IntN(1000))
		i += copy(b[i:], s)
	}
}
