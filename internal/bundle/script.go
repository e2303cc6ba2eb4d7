package bundle

import _ "embed"

// VerifyScript is verify-export.sh, shipped at the top of every bundle (SPEC.md section 5).
//
//go:embed verify-export.sh
var VerifyScript []byte
