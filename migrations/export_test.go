package migrations

// Exposed to the external tests.
var (
	Load       = load
	Statements = statements
)
