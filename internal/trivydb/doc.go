// Package trivydb writes a Trivy vulnerability database (schema 2, the
// trivy.db BoltDB file and its metadata.json) from OSV advisories, so that
// the real Trivy scans offline against our own evidence:
//
//	trivy fs --cache-dir ROOT --skip-db-update --offline-scan DIR
//
// where ROOT holds db/trivy.db and db/metadata.json as Write leaves them.
//
// # Layout
//
// Buckets, as trivy-db's pkg/db and Trivy's pkg/detector/library read them:
//   - "data-source": one key per language bucket name, value
//     {"ID","Name","URL"} (the Options.Source);
//   - "vulnerability": vulnerability id → {"Title","Description","Severity",
//     "CweIDs","VendorSeverity","CVSS","References","PublishedDate",
//     "LastModifiedDate"}, VendorSeverity and CVSS keyed by the source ID;
//   - "<ecosystem>::<source name>": one nested bucket per normalised
//     package name, holding vulnerability id → {"PatchedVersions",
//     "VendorIDs","VulnerableVersions"}.
//
// metadata.json is {"Version":2,"NextUpdate":…,"UpdatedAt":…,"DownloadedAt":…}
// with the times of Options.Metadata in UTC.
//
// # Mapping
//
// OSV ecosystems map to Trivy's as trivy-db does: npm→npm, PyPI→pip,
// Go→go, Maven→maven, crates.io→cargo, RubyGems→rubygems, NuGet→nuget,
// Packagist→composer, Pub→pub, Hex→erlang, Julia→julia, SwiftURL→swift.
// Package names are normalised as Trivy looks them up: lower case, PyPI
// also with "_" as "-"; Go and Julia keep their case; SwiftURL loses
// "https://" and ".git". Ranges become constraint strings as described at
// constraints; Go versions gain their leading "v" (Trivy's comparer ignores
// it, and Trivy shows Go versions with it). A version that Trivy's
// comparer for the ecosystem could not parse leaves its affected entry out,
// since one bad constraint makes Trivy drop every advisory of the package.
//
// The id Trivy reports is each CVE alias of an advisory, or its OSV id when
// it has none; the other ids become VendorIDs. Severity is
// database_specific.severity (LOW, MODERATE or MEDIUM, HIGH, CRITICAL),
// else the rating of the CVSS v4 score, else of the CVSS v3 base score
// (computed from the vector with pandatix/go-cvss), else UNKNOWN.
//
// Left out, and listed in the Summary with a reason: withdrawn advisories
// (any withdrawn date: no clock is read), advisories without affected
// packages, affected entries of other ecosystems, with only GIT ranges, with
// malformed ranges or with versions Trivy cannot parse.
//
// # Merge rule
//
// Advisories are ranked: the later "modified" first, then the smaller OSV
// id, then the smaller source name, then the smaller SHA-256 of the record.
//   - A package entry (ecosystem, package, vulnerability id) given by
//     several advisories, or by several affected entries of one, is the
//     union of their VulnerableVersions, PatchedVersions and VendorIDs,
//     each sorted and without duplicates. One bucket per ecosystem holds
//     every source's advisories, so Trivy never sees two buckets disagree.
//   - A vulnerability id given by several advisories takes each of title,
//     description, severity, CVSS v3, CVSS v4, published and modified from
//     the highest-ranked advisory that has a value for it; References and
//     CweIDs are the sorted union.
//
// The result depends only on the set of advisories, not the order they
// are added in.
//
// # Determinism
//
// The same advisories give the same trivy.db bytes: pages are 4096 bytes,
// keys go in sorted order, and the transactions are cut so that bbolt's
// page allocation does not depend on Go's map order (see writeBolt).
package trivydb
