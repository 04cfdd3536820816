// Package migrations holds the versioned schema of both databases as SQL files embedded
// in the binary, and applies the ones a database lacks.
//
// Files are named <version>_<name>.up.sql (version: positive decimal, e.g. 0001) under
// postgres/ and clickhouse/. Versions only move forward: a database records the
// migrations it applied in its schema_migrations table, and a migration is pending when
// its version is above the highest recorded one. There are no down migrations.
//
// PostgreSQL migrations run one transaction each, under an advisory lock, so concurrent
// migrators apply each migration once. ClickHouse has neither transactions nor locks:
// its files contain only idempotent DDL (IF NOT EXISTS), are split into statements at
// a `;` that ends a line, and name tables as ${database}.<table>; concurrent migrators
// may both run a statement, harmlessly.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"
)

//go:embed postgres/*.sql clickhouse/*.sql
var files embed.FS

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	sql     string
}

// fileName is the pattern every migration file follows: version, name, suffix.
var fileName = regexp.MustCompile(`^([0-9]+)_([a-z0-9_]+)\.up\.sql$`)

// load reads the migrations of one engine's directory, ordered by version.
func load(dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(files, dir)
	if err != nil {
		return nil, fmt.Errorf("read %s migrations: %w", dir, err)
	}
	ms := make([]Migration, 0, len(entries))
	for _, e := range entries { // ReadDir sorts by name, and versions are zero-padded
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %s/%s: name is not <version>_<name>.up.sql", dir, e.Name())
		}
		version, err := strconv.Atoi(m[1])
		if err != nil || version <= 0 {
			return nil, fmt.Errorf("migration file %s/%s: version must be a positive number", dir, e.Name())
		}
		if n := len(ms); n > 0 && ms[n-1].Version >= version {
			return nil, fmt.Errorf("migration file %s/%s: version %d not above %d", dir, e.Name(), version, ms[n-1].Version)
		}
		sql, err := fs.ReadFile(files, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s/%s: %w", dir, e.Name(), err)
		}
		ms = append(ms, Migration{Version: version, Name: m[2], sql: string(sql)})
	}
	return ms, nil
}

// statements splits a script at every `;` that ends a line, dropping whole-line `--`
// comments (which may end in `;` themselves) and empty statements.
func statements(script string) []string {
	var stmts []string
	var cur strings.Builder
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			stmts = append(stmts, s)
		}
		cur.Reset()
	}
	for line := range strings.Lines(script) {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "--") {
			continue
		}
		if body, ok := strings.CutSuffix(trimmed, ";"); ok {
			cur.WriteString(body)
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return stmts
}
