package config

import _ "embed"

//go:generate go run ./refdoc/gen

// Reference is the configuration reference, generated from this package
// (config/reference.md; `pubtools-sign config docs` prints it).
//
//go:embed reference.md
var Reference string
