package run

import (
	"crypto/sha256"
	"encoding/json"
	"strings"
	"time"

	"github.com/stella-ops/stella-export/internal/adapters"
	"github.com/stella-ops/stella-export/internal/bundle"
	"github.com/stella-ops/stella-export/internal/digest"
	"github.com/stella-ops/stella-export/internal/layout"
	"github.com/stella-ops/stella-export/internal/manifest"
	"github.com/stella-ops/stella-export/internal/merkle"
	"github.com/stella-ops/stella-export/internal/plaintext"
	"github.com/stella-ops/stella-export/internal/plan"
	"github.com/stella-ops/stella-export/internal/provenance"
	"github.com/stella-ops/stella-export/internal/version"
)

// descriptor is the provenance descriptor of a file or input known by its
// SHA-256 ("sha256:"-prefixed or bare hex).
func descriptor(name, sha string) provenance.Descriptor {
	return provenance.Descriptor{Name: name, Digest: provenance.DigestSet{SHA256: strings.TrimPrefix(sha, digest.Prefix)}}
}

func adapterList(ads []adapters.Adapter) []manifest.Adapter {
	out := make([]manifest.Adapter, len(ads))
	for i, a := range ads {
		out[i] = manifest.Adapter{Name: a.Name(), Version: a.Version()}
	}
	return out
}

func writeProvenance(stage *adapters.Stage, p *plan.Plan, ads []adapters.Adapter, enc *provenance.Encryption, signer bundle.Signer) error {
	files, err := stage.Files()
	if err != nil {
		return err
	}
	adapterJSON, err := json.Marshal(adapterList(ads))
	if err != nil {
		return err
	}
	selectors, err := json.Marshal(p.Contract.Selectors)
	if err != nil {
		return err
	}
	head := provenance.Head{
		ExportID: p.Contract.ExportID, Profile: p.Contract.Profile, Tenant: p.Contract.Tenant,
		ExporterVersion: version.String(), Adapters: adapterJSON,
		Contract: descriptor("contract", p.Contract.Digest), Selectors: selectors,
	}
	if p.Policy != nil {
		s := descriptor("policy/"+p.Policy.SnapshotID+"/snapshot.json", p.Policy.SHA256)
		head.PolicySnapshot = &s
	}
	if p.Base != nil {
		s := descriptor(p.Base.ExportID, p.Base.SHA256)
		head.Base = &s
	}
	head.Encryption = enc
	if signer != nil {
		head.SigningKey = &provenance.SigningKey{KeyID: signer.Fingerprint()}
	}
	f, err := stage.Create(layout.Provenance)
	if err != nil {
		return err
	}
	subject := func(yield func(provenance.Descriptor, error) bool) {
		for f, err := range files.All() {
			if !yield(descriptor(f.Path, f.SHA256), err) || err != nil {
				return
			}
		}
	}
	inputs := func(yield func(provenance.Descriptor, error) bool) {
		for d, err := range p.Inputs.All() {
			if err != nil {
				yield(provenance.Descriptor{}, err)
				return
			}
			if !yield(descriptor(d.Path, d.SHA256), nil) {
				return
			}
		}
	}
	err = provenance.Write(f, head, subject, inputs)
	if err != nil {
		f.Abort()
		return err
	}
	return f.Close()
}

func planDigest(p *plan.Plan) (string, error) {
	h := sha256.New()
	if err := plan.Write(h, p); err != nil {
		return "", err
	}
	return digest.Of(h).String(), nil
}

// PlanDigest returns the digest export.json records as contract.planDigest:
// the SHA-256 of the plan's canonical JSON.
func PlanDigest(p *plan.Plan) (string, error) { return planDigest(p) }

// digestJob is a plan digest computed on a goroutine of its own.
type digestJob struct {
	done   chan struct{}
	digest string
	err    error
}

func startPlanDigest(p *plan.Plan) *digestJob {
	j := &digestJob{done: make(chan struct{})}
	go func() {
		defer close(j.done)
		j.digest, j.err = planDigest(p)
	}()
	return j
}

// knownPlanDigest is the job of a digest already made, or nil for "".
func knownPlanDigest(d string) *digestJob {
	if d == "" {
		return nil
	}
	j := &digestJob{done: make(chan struct{}), digest: d}
	close(j.done)
	return j
}

// wait returns the digest once computed; it may be called more than once.
func (j *digestJob) wait() (string, error) {
	<-j.done
	return j.digest, j.err
}

func runManifest(p *plan.Plan, ads []adapters.Adapter, files *adapters.Files, created time.Time, pd string) (*manifest.Run, error) {
	m := &manifest.Run{
		Format: manifest.Format, Profile: p.Contract.Profile, ExportID: p.Contract.ExportID, Tenant: p.Contract.Tenant,
		CreatedAtUTC: manifest.Timestamp(created), RetentionDays: p.Contract.RetentionDays,
		ExporterVersion: version.String(), Adapters: adapterList(ads),
		Contract:  manifest.RunContract{Digest: p.Contract.Digest, PlanDigest: pd},
		Selectors: p.Contract.Selectors,
		Counts:    p.Totals.ByType, Excluded: p.Excluded, Invalid: []manifest.Invalid{}, InputBytes: p.Totals.Bytes,
		Files:       []manifest.RunFile{},
		Compression: p.Contract.Compression,
	}
	if p.Contract.RetentionDays > 0 {
		m.ExpiresAtUTC = manifest.Timestamp(created.AddDate(0, 0, p.Contract.RetentionDays))
	}
	for _, iv := range p.Invalid {
		m.Invalid = append(m.Invalid, manifest.Invalid{Path: iv.Path, Reason: iv.Reason})
	}
	err := payloadFiles(m, files, func(f adapters.File) {
		if listed(p.Contract.Profile, f.Path) {
			c := "none"
			// The codec of the content, encrypted or not.
			if strings.HasSuffix(strings.TrimSuffix(strings.TrimSuffix(f.Path, plaintext.SuffixEnvelope), plaintext.SuffixAge), ".zst") {
				c = "zstd"
			}
			m.Files = append(m.Files, manifest.RunFile{Path: f.Path, SHA256: f.SHA256, Size: f.Size, Records: f.Records, Compression: c})
		}
	})
	if err != nil {
		return nil, err
	}
	if p.Policy != nil {
		m.Policy = &manifest.Policy{SnapshotID: p.Policy.SnapshotID, PolicyVersion: p.Policy.PolicyVersion,
			InputsHash: p.Policy.InputsHash, DecisionTrace: p.Policy.DecisionTrace, SHA256: p.Policy.SHA256}
	}
	if p.Base != nil {
		m.Base = &manifest.Base{ExportID: p.Base.ExportID, RootHash: p.Base.RootHash, SHA256: p.Base.SHA256}
	}
	return m, nil
}

// payloadFiles sets m's file count, payload bytes and payload root (the
// RFC 6962 root of the checksums lines, as payloadRoot checks them) from
// the staged files, calling each with every file in order.
func payloadFiles(m *manifest.Run, files *adapters.Files, each func(adapters.File)) error {
	var (
		root merkle.Builder
		prev string
	)
	for f, err := range files.All() {
		if err != nil {
			return err
		}
		d, err := digest.Parse(f.SHA256)
		if err != nil {
			return err
		}
		if err := payloadRoot(d, f.Path, &root, &prev); err != nil {
			return err
		}
		m.FileCount++
		m.PayloadBytes += f.Size
		each(f)
	}
	m.PayloadRoot = root.Root().String()
	return nil
}

// listed says which files export.json lists: every data file of the JSON
// profiles; for mirrors the manifests (mirror.json lists the rest).
func listed(profile, path string) bool {
	if path == layout.Provenance {
		return false
	}
	if strings.HasPrefix(profile, "mirror:") {
		return strings.HasPrefix(path, "manifests/")
	}
	return true
}
