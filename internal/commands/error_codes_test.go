package commands

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// TestErrorCodesWalked: testdata/script/error_codes.txtar triggers every
// code of the table and checks its --json error object, with the table's
// exit code (ExportFailed also with exit 1, when the export is marked).
func TestErrorCodesWalked(t *testing.T) {
	b, err := os.ReadFile("testdata/script/error_codes.txtar")
	if err != nil {
		t.Fatal(err)
	}
	script := string(b)
	for _, c := range exitcode.Codes {
		want := `stdout '^\{"code":"` + c.Code + `","exit":`
		if c.Code == exitcode.CodeDeliveryFailed {
			want = `stdout '"code":"` + c.Code + `","exit":`
		}
		if !strings.Contains(script, want) {
			t.Errorf("error_codes.txtar does not trigger %s (no %s)", c.Code, want)
		}
		if !strings.Contains(script, `"code":"`+c.Code+`","exit":`+strconv.Itoa(c.Exit)) {
			t.Errorf("error_codes.txtar does not check %s with exit %d", c.Code, c.Exit)
		}
	}
}
