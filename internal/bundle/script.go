package bundle

import _ "embed"

// VerifyScript is verify-export.sh, shipped at the top of every bundle
// (docs/format.md#verify-export-sh).
//
//go:embed verify-export.sh
var VerifyScript []byte
