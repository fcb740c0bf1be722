package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// EngineVersion is the Falco engine version whose rules language quell
// implements; files requiring a newer one are rejected.
const EngineVersion = "0.57.0"

// providedPlugins are the Falco plugins whose fields quell computes itself.
var providedPlugins = map[string]string{
	"container": "0.4.0", "k8saudit": "0.18.0", "json": "0.7.0",
}

// File is one rules file to load.
type File struct {
	// Name is used in positions; usually the path.
	Name string
	Data []byte
}

// ReadFiles reads rules files from disk.
func ReadFiles(paths ...string) ([]File, error) {
	files := make([]File, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read rules: %w", err)
		}
		files = append(files, File{Name: p, Data: b})
	}
	return files, nil
}

// Load parses rules files in order, applying later files' appends and
// overrides to earlier items. It always returns a Ruleset holding what could
// be loaded; the diagnostics say what could not.
func Load(files ...File) (*Ruleset, Diagnostics) {
	rs := newRuleset()
	l := &loader{rs: rs}
	for _, f := range files {
		l.file(f)
	}
	return rs, l.diags
}

type loader struct {
	rs    *Ruleset
	diags Diagnostics
}

func (l *loader) add(sev Severity, name string, err error) {
	var le *locError
	pos := Position{}
	if errors.As(err, &le) {
		pos = le.pos
	}
	l.diags = append(l.diags, Diagnostic{Pos: pos, Severity: sev, Rule: name, Msg: err.Error()})
}

func (l *loader) file(f File) {
	dec := yaml.NewDecoder(bytes.NewReader(f.Data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			return
		}
		if err != nil {
			l.add(SeverityError, "", &locError{pos: yamlErrPos(f.Name, err), err: fmt.Errorf("invalid yaml: %s", yamlErrMsg(err))})
			return
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := deref(doc.Content[0])
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue
		}
		if root.Kind != yaml.SequenceNode {
			l.add(SeverityError, "", &locError{pos: Position{File: f.Name, Line: root.Line, Col: root.Column}, err: errors.New("rules content is not a yaml array of objects")})
			continue
		}
		for _, n := range root.Content {
			it, err := newItem(f.Name, deref(n))
			if err != nil {
				var le *locError
				if !errors.As(err, &le) {
					err = &locError{pos: Position{File: f.Name, Line: n.Line, Col: n.Column}, err: err}
				}
				l.add(SeverityError, "", err)
				continue
			}
			l.item(it)
		}
	}
}

var yamlLineRE = regexp.MustCompile(`line (\d+)`)

func yamlErrPos(file string, err error) Position {
	p := Position{File: file, Line: 1, Col: 1}
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
	}
	return p
}

func yamlErrMsg(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

func (l *loader) item(it *item) {
	switch {
	case it.has("required_engine_version"):
		l.engineVersion(it)
	case it.has("required_plugin_versions"):
		l.pluginVersions(it)
	case it.has("list"):
		name, _ := it.str("list")
		if err := l.list(it); err != nil {
			l.add(SeverityError, name, err)
		}
	case it.has("macro"):
		name, _ := it.str("macro")
		if err := l.macro(it); err != nil {
			l.add(SeverityError, name, err)
		}
	case it.has("rule"):
		name, _ := it.str("rule")
		if err := l.rule(it); err != nil {
			l.add(SeverityError, name, err)
		}
	default:
		l.add(SeverityWarning, "", &locError{pos: it.pos, err: errors.New("unknown top level item")})
	}
}

// unknownKeys warns about keys outside allowed.
func (l *loader) unknownKeys(it *item, name string, allowed ...string) {
	for k := range it.keys {
		ok := false
		for _, a := range allowed {
			if k == a {
				ok = true
				break
			}
		}
		if !ok {
			l.add(SeverityWarning, name, &locError{pos: it.kpos[k], err: fmt.Errorf("unknown key '%s' ignored", k)})
		}
	}
}

func (l *loader) engineVersion(it *item) {
	n := deref(it.keys["required_engine_version"])
	v := n.Value
	if n.Kind != yaml.ScalarNode {
		l.add(SeverityError, "", it.errf("required_engine_version", "required_engine_version must be a version"))
		return
	}
	if i, err := strconv.Atoi(v); err == nil {
		v = fmt.Sprintf("0.%d.0", i)
	}
	req, err := parseSemver(v)
	if err != nil {
		l.add(SeverityError, "", it.errf("required_engine_version", "invalid required_engine_version %q", n.Value))
		return
	}
	have, _ := parseSemver(EngineVersion)
	if compareSemver(req, have) > 0 {
		l.add(SeverityError, "", it.errf("required_engine_version", "rules require engine version %s, but quell implements %s", v, EngineVersion))
	}
	cur, err := parseSemver(l.rs.RequiredEngineVersion)
	if err != nil || compareSemver(req, cur) > 0 {
		l.rs.RequiredEngineVersion = v
	}
}

func (l *loader) pluginVersions(it *item) {
	n := deref(it.keys["required_plugin_versions"])
	if n.Kind != yaml.SequenceNode {
		l.add(SeverityError, "", it.errf("required_plugin_versions", "required_plugin_versions must be a sequence"))
		return
	}
	for _, c := range n.Content {
		var req struct {
			Name         string `yaml:"name"`
			Version      string `yaml:"version"`
			Alternatives []struct {
				Name    string `yaml:"name"`
				Version string `yaml:"version"`
			} `yaml:"alternatives"`
		}
		pos := it.posOf(c)
		if err := c.Decode(&req); err != nil || req.Name == "" {
			l.add(SeverityError, "", &locError{pos: pos, err: errors.New("required_plugin_versions entries need a name and a version")})
			continue
		}
		if _, err := parseSemver(req.Version); err != nil {
			l.add(SeverityError, "", &locError{pos: pos, err: fmt.Errorf("invalid version %q for plugin %s", req.Version, req.Name)})
			continue
		}
		names := []string{req.Name}
		for _, a := range req.Alternatives {
			names = append(names, a.Name)
		}
		found := false
		for _, nm := range names {
			if _, ok := providedPlugins[nm]; ok {
				found = true
			}
		}
		if !found {
			l.add(SeverityWarning, "", &locError{pos: pos, err: fmt.Errorf("plugin %s is not provided by quell; rules using its fields or source will be skipped", req.Name)})
		}
	}
}

type semver [3]int

func parseSemver(s string) (semver, error) {
	var v semver
	parts := strings.SplitN(strings.TrimPrefix(strings.TrimSpace(s), "v"), ".", 3)
	if len(parts) != 3 {
		return v, fmt.Errorf("invalid version %q", s)
	}
	for i, p := range parts {
		if j := strings.IndexAny(p, "-+"); j >= 0 && i == 2 {
			p = p[:j]
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("invalid version %q", s)
		}
		v[i] = n
	}
	return v, nil
}

func compareSemver(a, b semver) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}
