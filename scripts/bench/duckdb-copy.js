// duckdb-copy.js copy CSV OUT.parquet SALT_HEX TENANT: the DuckDB anchor
// of `scripts/bench.sh --dataset`. DuckDB converts the HMIS-like
// clients.csv of `benchgen -dataset` to Parquet (snappy) with the
// redaction ours applies: first_name dropped, ssn replaced by hex
// HMAC-SHA-256 under the tenant's key, HMAC-SHA-256(salt,
// "stella-export/dataset-hash/v1\0" + tenant) as docs/dataset.md defines it
// (the HMAC built from sha256: DuckDB has no hmac), VAWA-protected rows
// suppressed. Needs NODE_PATH to hold @duckdb/node-api (scripts/duckdb.sh).
// Prints the rows written.
//
// duckdb-copy.js same A.parquet B.parquet: prints "same" when the two files
// hold the same rows (as multisets, through DuckDB), else "DIFFERS".
const crypto = require('crypto');
const { DuckDBInstance } = require('@duckdb/node-api');
(async () => {
  const [mode, csv, out, saltHex, tenant] = process.argv.slice(2);
  if (mode === 'same') {
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    const a = "'" + csv.replace(/'/g, "''") + "'", b = "'" + out.replace(/'/g, "''") + "'";
    const r = await c.runAndReadAll(`SELECT (SELECT count(*) FROM (SELECT * FROM ${a} EXCEPT ALL SELECT * FROM ${b}))
      + (SELECT count(*) FROM (SELECT * FROM ${b} EXCEPT ALL SELECT * FROM ${a}))`);
    console.log(String(r.getRowsJson()[0][0]) === '0' ? 'same' : 'DIFFERS');
    return;
  }
  let key = crypto.createHmac('sha256', Buffer.from(saltHex, 'hex')).update('stella-export/dataset-hash/v1\0' + tenant).digest();
  if (key.length > 64) key = crypto.createHash('sha256').update(key).digest();
  const pad = (b) => { const k = Buffer.alloc(64); key.copy(k); return Buffer.from(k.map((x) => x ^ b)).toString('hex'); };
  const q = (s) => "'" + s.replace(/'/g, "''") + "'";
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const sql = `COPY (
    SELECT personal_id,
      CASE WHEN ssn IS NULL THEN NULL ELSE
        sha256(unhex('${pad(0x5c)}') || unhex(sha256(unhex('${pad(0x36)}') || encode(ssn)))) END AS ssn,
      dob, gender, veteran_status, vawa_protected, project_type, entry_date, exit_date, monthly_income, updated_at
    FROM read_csv(${q(csv)}, header = true, columns = {
      'personal_id': 'VARCHAR', 'ssn': 'VARCHAR', 'first_name': 'VARCHAR', 'dob': 'DATE', 'gender': 'BIGINT',
      'veteran_status': 'BIGINT', 'vawa_protected': 'BOOLEAN', 'project_type': 'BIGINT', 'entry_date': 'DATE',
      'exit_date': 'DATE', 'monthly_income': 'DOUBLE', 'updated_at': 'TIMESTAMPTZ'})
    WHERE NOT vawa_protected
  ) TO ${q(out)} (FORMAT parquet, COMPRESSION snappy)`;
  const r = await c.runAndReadAll(sql);
  console.log(String(r.getRowsJson()[0][0]));
})().catch((e) => { console.error('duckdb-copy.js: ' + (e && e.message || e)); process.exit(1); });
