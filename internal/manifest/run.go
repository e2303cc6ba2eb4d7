package manifest

// Run is export.json of a `stella-export run` bundle: run metadata,
// profile, selector summary, counts, digests, compression and, for
// json:policy, the policy snapshot. Like every JSON document it is written
// in canonical form.
type Run struct {
	Format          string         `json:"format"`
	Profile         string         `json:"profile"`
	ExportID        string         `json:"exportId"`
	Tenant          string         `json:"tenant"`
	CreatedAtUTC    string         `json:"createdAtUtc"`
	ExpiresAtUTC    string         `json:"expiresAtUtc,omitempty"`
	RetentionDays   int            `json:"retentionDays,omitempty"`
	ExporterVersion string         `json:"exporterVersion"`
	Adapters        []Adapter      `json:"adapters"`
	Contract        RunContract    `json:"contract"`
	Selectors       RunSelectors   `json:"selectors"`
	Counts          map[string]int `json:"counts"`
	Excluded        map[string]int `json:"excluded"`
	Invalid         []Invalid      `json:"invalid"`
	InputBytes      int64          `json:"inputBytes"`
	Files           []RunFile      `json:"files"`
	Compression     Compression    `json:"compression"`
	Policy          *Policy        `json:"policy,omitempty"`
	Base            *Base          `json:"base,omitempty"`
	TrivyDB         *TrivyDB       `json:"trivyDb,omitempty"`
	JavaDB          *JavaDB        `json:"javaDb,omitempty"`
	Encryption      *Encryption    `json:"encryption,omitempty"`
	FileCount       int            `json:"fileCount"`
	PayloadBytes    int64          `json:"payloadBytes"`
	PayloadRoot     string         `json:"payloadRoot"`
}

// Adapter names an adapter and its output version.
type Adapter struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// RunContract identifies the contract and plan a run came from.
type RunContract struct {
	Digest     string `json:"digest"`
	PlanDigest string `json:"planDigest"`
}

// RunSelectors is the selector summary.
type RunSelectors struct {
	Tenants      []string `json:"tenants"`
	Since        string   `json:"since,omitempty"`
	Until        string   `json:"until,omitempty"`
	Products     []string `json:"products"`
	SBOMSubjects []string `json:"sbomSubjects"`
	Ecosystems   []string `json:"ecosystems"`
}

// Invalid is a document skipped with --skip-invalid.
type Invalid struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// RunFile is an adapter output: a data file, or for mirrors the tree's
// manifest (manifests/mirror.json lists every file).
type RunFile struct {
	Path    string `json:"path"`
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	Records int    `json:"records"`
	// Compression names the codec of the file's content ("zstd" or
	// "none"): a hint for consumers.
	Compression string `json:"compression"`
}

// Compression of JSON lines outputs.
type Compression struct {
	Codec string `json:"codec"`
	Level int    `json:"level"`
}

// Policy is the policy snapshot metadata of json:policy and mirror exports.
type Policy struct {
	SnapshotID    string `json:"snapshotId"`
	PolicyVersion string `json:"policy_version"`
	InputsHash    string `json:"inputs_hash"`
	DecisionTrace string `json:"decision_trace"`
	SHA256        string `json:"sha256"`
}

// Base is the base bundle of a mirror delta.
type Base struct {
	ExportID string `json:"exportId"`
	RootHash string `json:"rootHash"`
	SHA256   string `json:"sha256"`
}

// TrivyDB summarises the database of a trivy:db export: what went in, per
// Trivy ecosystem and severity, and every advisory or affected package
// left out, with the reason.
type TrivyDB struct {
	Schema int `json:"schema"`
	// Advisories counts the advisories read; Included those that gave at
	// least one package entry; LeftOut those that gave none.
	Advisories int `json:"advisories"`
	Included   int `json:"included"`
	LeftOut    int `json:"leftOut"`
	// Vulnerabilities counts the vulnerability ids written.
	Vulnerabilities int `json:"vulnerabilities"`
	// Packages counts packages per Trivy ecosystem (npm, pip, go, ...).
	Packages map[string]int `json:"packages"`
	// Severities counts vulnerability ids per severity.
	Severities map[string]int `json:"severities"`
	// Reasons counts Skipped entries per reason.
	Reasons map[string]int `json:"reasons"`
	Skipped []TrivySkip    `json:"skipped"`
}

// TrivySkip is one advisory, or one affected package of it, left out of a
// trivy:db database.
type TrivySkip struct {
	Advisory  string `json:"advisory"`
	Path      string `json:"path"`
	Ecosystem string `json:"ecosystem,omitempty"`
	Package   string `json:"package,omitempty"`
	Reason    string `json:"reason"`
	Detail    string `json:"detail,omitempty"`
}

// JavaDB summarises the database of a trivy:java-db export.
type JavaDB struct {
	Schema int `json:"schema"`
	// Files counts the index files read, Entries their valid lines.
	Files   int `json:"files"`
	Entries int `json:"entries"`
	// Duplicates counts lines that repeat an earlier identical one.
	Duplicates int `json:"duplicates"`
	// Artifacts counts (group_id, artifact_id) pairs, Indices artefact
	// files (SHA-1s).
	Artifacts int `json:"artifacts"`
	Indices   int `json:"indices"`
}

// Encryption says which files of an encrypted export are encrypted and
// how (docs/encryption.md#what-a-bundle-records): the mode, the scope, how
// many files the plaintext manifest lists, the master key's key id
// (envelope) or the recipients' fingerprints, sorted (age), and the name of
// the encrypted plaintext manifest.
type Encryption struct {
	Mode              string   `json:"mode"`
	Scope             string   `json:"scope"`
	Files             int      `json:"files"`
	KeyID             string   `json:"keyId,omitempty"`
	Recipients        []string `json:"recipients,omitempty"`
	PlaintextManifest string   `json:"plaintextManifest"`
}
