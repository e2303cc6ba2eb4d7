package contract

import (
	"strings"

	"github.com/stella-ops/stella-export/internal/exitcode"
)

// FieldError is one mistake in a contract file. Its message is
//
//	file:line:column: field: reason
//
// where the reason says what is wrong and how to fix it, for example
//
//	contracts/a.yaml:7:10: selectors.since: "2025-13-01" is not an RFC 3339 time; write e.g. 2025-01-01T00:00:00Z
//
// Line and Column are 1-based; Column is 0 when the YAML parser gave a
// line only (syntax errors), Line is 0 for mistakes of the whole file
// (empty, too large). Field is the dotted path of the field as written
// ("selectors.products[1]"), empty for mistakes that belong to no field.
// Every FieldError is invalid input: errors.Is(err, exitcode.ErrInvalid).
type FieldError struct {
	File   string
	Line   int
	Column int
	Field  string
	Reason string
	// Code is the stable error code when more precise than
	// ContractInvalid (internal/exitcode), e.g. TRIVY_SCHEMA_UNSUPPORTED.
	Code string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":")
			b.WriteString(itoa(e.Column))
		}
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap classifies every FieldError as invalid input (exit 3).
func (e *FieldError) Unwrap() error { return exitcode.ErrInvalid }

func (e *FieldError) ErrorCode() string {
	if e.Code != "" {
		return e.Code
	}
	return exitcode.CodeContractInvalid
}

// Errors are all the mistakes found in one contract file, in file order
// (line, then column). Parse and Load never return an empty Errors.
// Callers that print errors should print each FieldError on its own line;
// Error joins them with "; " for contexts that need one string.
type Errors []*FieldError

func (es Errors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// Unwrap returns the FieldErrors, so that errors.As finds the first one
// and errors.Is(err, exitcode.ErrInvalid) holds.
func (es Errors) Unwrap() []error {
	if len(es) == 0 {
		return []error{exitcode.ErrInvalid}
	}
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}
