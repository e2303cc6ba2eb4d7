package exitcode

import "errors"

// Stable error codes: every failure carries one besides its exit code, in
// --json errors, the events' adapter.error and failed run.state, metrics'
// error_code label and the notification of a failed export. A code never
// changes meaning; new ones are added to Codes.
const (
	CodeUsage             = "UsageError"
	CodeInvalidInput      = "InvalidInput"
	CodeIO                = "IOError"
	CodeConflict          = "Conflict"
	CodeContractInvalid   = "ContractInvalid"
	CodeEvidenceInvalid   = "EvidenceInvalid"
	CodeCrossTenantDenied = "CrossTenantDenied"
	CodeInputChanged      = "InputChanged"
	CodeOutputExists      = "OutputExists"
	CodeSealedRequired    = "SealedRequired"
	CodeExportFailed      = "ExportFailed"
	CodeVerifyFailed      = "VerifyFailed"
	CodeSignatureInvalid  = "SignatureInvalid"
	CodeDeliveryFailed    = "DeliveryFailed"
	CodeCancelled         = "Cancelled"
	CodeTrivySchema       = "TRIVY_SCHEMA_UNSUPPORTED"
	CodeKMSEncryption     = "KMS_ENCRYPTION_ERROR"
	// The dataset guardrails' codes (docs/dataset.md#validation): the
	// first of them with a blocking error names a blocked export.
	CodePicklistInvalid = "PICKLIST_INVALID_CODE"
	CodeRequiredNull    = "REQUIRED_FIELD_NULL"
	CodeBeforeHMISEpoch = "DATE_BEFORE_HMIS_EPOCH"
	CodeDateSequence    = "DATE_SEQUENCE_VIOLATION"
)

// CodeEntry is one row of the error-code table.
type CodeEntry struct {
	Code    string
	Exit    int
	Meaning string
}

// Codes is the error-code table; README.md, docs/format.md and `help
// exit-codes` show it, and tests keep them identical and trigger every
// code.
var Codes = []CodeEntry{
	{CodeUsage, Usage, "the command line is wrong: unknown flag, missing argument, conflicting options"},
	{CodeContractInvalid, Invalid, "the contract (or plan) has a mistake; file and position name it"},
	{CodeEvidenceInvalid, Invalid, "an evidence document is malformed (see --skip-invalid)"},
	{CodeCrossTenantDenied, Invalid, "a selector names another tenant without allow_cross_tenant and --allow-cross-tenant"},
	{CodeTrivySchema, Invalid, "the Trivy DB schema asked for is not supported"},
	{CodeKMSEncryption, Invalid, "the contract's encryption key cannot be resolved: a bad master key, an unknown alias (exit 4 when the keyring cannot be read)"},
	{CodePicklistInvalid, Invalid, "a DatasetExport guardrail blocked the export: a value is not among its column's codes"},
	{CodeRequiredNull, Invalid, "a DatasetExport guardrail blocked the export: a required column is null"},
	{CodeBeforeHMISEpoch, Invalid, "a DatasetExport guardrail blocked the export: a date is before the HMIS epoch"},
	{CodeDateSequence, Invalid, "a DatasetExport guardrail blocked the export: a pair of dates is out of order"},
	{CodeInvalidInput, Invalid, "other invalid input: unsafe archive entry, special file, over a size limit, bad data"},
	{CodeIO, IO, "I/O or environment error: unreadable file, disk full, missing key"},
	{CodeInputChanged, Conflict, "an input differs from what the plan recorded; plan again"},
	{CodeOutputExists, Conflict, "the output already exists (or may not be replaced)"},
	{CodeSealedRequired, Conflict, "the portable bundle is not sealed"},
	{CodeExportFailed, Conflict, "the portable export is marked FAILED (exit 1 when it is marked, 5 until acknowledged)"},
	{CodeConflict, Conflict, "another conflict or unmet precondition: a lock held, a changed contract"},
	{CodeVerifyFailed, Verify, "verification failed: a digest, Merkle root or provenance subject does not match"},
	{CodeSignatureInvalid, Verify, "a signature does not verify"},
	{CodeDeliveryFailed, Delivery, "a notification could not be delivered and went to the dead-letter queue"},
	{CodeCancelled, Interrupted, "interrupted by SIGINT or SIGTERM (exit 130 or 143); partial output removed"},
}

// Named is implemented by errors that know their stable code.
type Named interface{ ErrorCode() string }

// Name returns err's stable code: the first Named in its chain, else the
// general code of its exit code; "" for nil.
func Name(err error) string {
	if err == nil {
		return ""
	}
	if c := For(err); c == Interrupted || c == Terminated {
		return CodeCancelled
	}
	var n Named
	if errors.As(err, &n) {
		if c := n.ErrorCode(); c != "" {
			return c
		}
	}
	switch For(err) {
	case Usage:
		return CodeUsage
	case Invalid:
		return CodeInvalidInput
	case Conflict:
		return CodeConflict
	case Verify:
		return CodeVerifyFailed
	case Delivery:
		return CodeDeliveryFailed
	case Interrupted, Terminated:
		return CodeCancelled
	}
	return CodeIO
}

// Tag gives err the stable code; its message and exit code are unchanged.
func Tag(code string, err error) error {
	if err == nil {
		return nil
	}
	return &taggedError{code: code, err: err}
}

type taggedError struct {
	code string
	err  error
}

func (e *taggedError) Error() string     { return e.err.Error() }
func (e *taggedError) Unwrap() error     { return e.err }
func (e *taggedError) ErrorCode() string { return e.code }
