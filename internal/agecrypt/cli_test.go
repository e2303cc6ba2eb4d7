package agecrypt

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// needAge returns the path of the age CLI tool (age or age-keygen), skipping
// the test when it is missing, except under CI=true, where it fails.
func needAge(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found (scripts/deps.sh installs Debian's age package): %v", tool, err)
		}
		t.Skipf("%s not found; install Debian's age package (scripts/deps.sh)", tool)
	}
	return p
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// Interoperability with the real age CLI: age -d opens what Encrypt wrote
// for an age-keygen identity, and Decrypt opens what age -r and age -R wrote.
func TestAgeCLI(t *testing.T) {
	ageBin := needAge(t, "age")
	keygen := needAge(t, "age-keygen")
	dir := t.TempDir()
	idFile := filepath.Join(dir, "id.txt")
	run(t, keygen, "-o", idFile)
	pub := strings.TrimSpace(string(run(t, keygen, "-y", idFile)))
	rcptFile := filepath.Join(dir, "tenant.recipients")
	os.WriteFile(rcptFile, []byte("# tenant\n"+pub+"\n"), 0o644)

	rs, err := ParseRecipients([]string{pub})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Text != pub {
		t.Fatalf("canonical text %q, age-keygen -y printed %q", rs[0].Text, pub)
	}
	ids, err := ParseIdentityFile(idFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, chunk - 1, chunk, chunk + 1, 1<<20 + 3} {
		plain := plaintext(n)
		// Ours, opened by age.
		enc := filepath.Join(dir, "ours.age")
		os.WriteFile(enc, encrypt(t, AgeRecipients(rs), plain), 0o600)
		if got := run(t, ageBin, "-d", "-i", idFile, enc); !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: age -d gave %d bytes that differ", n, len(got))
		}
		// age's, opened by ours.
		in := filepath.Join(dir, "plain")
		os.WriteFile(in, plain, 0o600)
		for _, flags := range [][]string{{"-r", pub}, {"-R", rcptFile}} {
			theirs := filepath.Join(dir, "theirs.age")
			os.Remove(theirs)
			run(t, ageBin, append(append([]string{"-e"}, flags...), "-o", theirs, in)...)
			f, err := os.Open(theirs)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Decrypt(f, ids)
			if err != nil {
				t.Fatalf("%d bytes, age %s: %v", n, flags[0], err)
			}
			got, err := io.ReadAll(r)
			f.Close()
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%d bytes, age %s: %v, plaintext equal %v", n, flags[0], err, bytes.Equal(got, plain))
			}
		}
	}
	// A recipients file made for age works as it is.
	frs, err := ParseRecipients([]string{rcptFile})
	if err != nil || len(frs) != 1 || frs[0].Fingerprint != rs[0].Fingerprint {
		t.Fatalf("recipients file: %+v, %v", frs, err)
	}
	// Both refuse the same altered file.
	file := encrypt(t, AgeRecipients(rs), plaintext(chunk+1))
	file[len(file)-1] ^= 1
	bad := filepath.Join(dir, "bad.age")
	os.WriteFile(bad, file, 0o600)
	if err := exec.Command(ageBin, "-d", "-i", idFile, "-o", filepath.Join(dir, "out"), bad).Run(); err == nil {
		t.Fatal("age -d accepted an altered file")
	}
	_, err = decrypt(ids, file)
	if exitcode.For(err) != exitcode.Verify {
		t.Fatalf("altered file: exit %d, %v", exitcode.For(err), err)
	}
}
