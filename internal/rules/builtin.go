package rules

import _ "embed"

//go:embed builtin/quell_rules.yaml
var builtinRules []byte

// BuiltinFileName names the built-in rules in positions and diagnostics.
const BuiltinFileName = "<builtin>/quell_rules.yaml"

// Builtin returns quell's built-in rules file. Load it first so that user
// files can override it.
func Builtin() File { return File{Name: BuiltinFileName, Data: builtinRules} }

// LoadEngine loads the built-in rules (unless noDefaults) followed by files,
// compiles them and returns the engine with every diagnostic.
func LoadEngine(noDefaults bool, files ...File) (*Engine, Diagnostics) {
	var all []File
	if !noDefaults {
		all = append(all, Builtin())
	}
	all = append(all, files...)
	rs, diags := Load(all...)
	eng, cdiags := Compile(rs)
	return eng, append(diags, cdiags...)
}
