package testenv

import "strings"

// HostileMarker is in every HostileIDs value that could name a file, so a test can look
// for files an id has created.
const HostileMarker = "lambda-hostile"

// HostileIDs are ids and names that must never reach a file path or an unbound query:
// separators and traversal, quotes and SQL, NUL and control bytes, unicode, and a
// 1 KB value. Tests send them wherever an id or name comes from outside.
var HostileIDs = []string{
	"..",
	".",
	"../" + HostileMarker,
	"../../../../tmp/" + HostileMarker,
	"..\\" + HostileMarker,
	"/etc/passwd",
	"a/b",
	HostileMarker + "\x00.onnx",
	"\x00",
	"a\nb\r\tc",
	"' OR '1'='1",
	`"; DROP TABLE models; --`,
	"1; DELETE FROM model_versions",
	"`batch_view`",
	"%2e%2e%2f" + HostileMarker,
	"%00",
	"ÿ\u202e\u0000名前🙂",
	"\uFEFF" + HostileMarker,
	"\xff\xfe",
	strings.Repeat("a", 1024),
	strings.Repeat("é", 512),
	"-1",
	"0",
	"99999999999999999999999",
	" ",
}
