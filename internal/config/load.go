package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// EnvPrefix starts every environment variable quell reads as configuration.
const EnvPrefix = "QUELL_"

// Override is one value given on the command line.
type Override struct {
	Key    string // dotted key, e.g. log.level
	Value  string
	Source string // e.g. "flag --log-level"
}

// Sources says where Load reads from. The zero value loads only defaults.
type Sources struct {
	File      string   // YAML file; empty for none
	Env       []string // KEY=VALUE pairs, as os.Environ returns them
	Overrides []Override
}

// Problem is one invalid setting.
type Problem struct {
	Key    string // dotted key, or the YAML path of an unknown one
	Source string // where the value came from: file:line:col, env NAME, flag ...
	Msg    string
}

func (p *Problem) Error() string {
	if p.Source == "" {
		return fmt.Sprintf("%s: %s", p.Key, p.Msg)
	}
	return fmt.Sprintf("%s (%s): %s", p.Key, p.Source, p.Msg)
}

// Load builds a Config from defaults and the given sources and validates it.
// It returns every problem found, joined with errors.Join; each is a
// *Problem naming the key.
func Load(src Sources) (*Config, error) {
	cfg := Default()
	table := map[string]setting{}
	for _, s := range settings() {
		table[s.key] = s
	}
	entries := listEntries()
	origin := map[string]string{}
	var errs []error
	notList := map[string]bool{} // keys given a list of mappings they do not take, reported once
	apply := func(key, value, source string) {
		if base, i, field, ok := entryKey(key); ok {
			set, list := entries[base]
			_, known := table[base]
			switch {
			case list:
				if err := set(&cfg, i, field, value); err != nil {
					errs = append(errs, &Problem{Key: key, Source: source, Msg: err.Error()})
					return
				}
				origin[key] = source
			case notList[base]:
			case known:
				notList[base] = true
				errs = append(errs, &Problem{Key: base, Source: source, Msg: "must be a single value or a list of single values"})
			default:
				notList[base] = true
				errs = append(errs, &Problem{Key: base, Source: source, Msg: unknownMsg(base, table)})
			}
			return
		}
		s, ok := table[key]
		if !ok {
			errs = append(errs, &Problem{Key: key, Source: source, Msg: unknownMsg(key, table)})
			return
		}
		if err := s.set(&cfg, value); err != nil {
			errs = append(errs, &Problem{Key: key, Source: source, Msg: err.Error()})
			return
		}
		origin[key] = source
		for k := range origin { // a whole list replaces the entries set before
			if strings.HasPrefix(k, key+"[") {
				delete(origin, k)
			}
		}
	}

	if src.File != "" {
		values, err := readFile(src.File)
		if err != nil {
			return nil, err
		}
		for _, v := range values {
			if v.err != "" {
				errs = append(errs, &Problem{Key: v.key, Source: v.pos, Msg: v.err})
				continue
			}
			apply(v.key, v.value, v.pos)
		}
	}
	for _, kv := range src.Env {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		key, ok := keyForEnv(name, table)
		if !ok {
			errs = append(errs, &Problem{Key: name, Source: "environment", Msg: "unknown setting"})
			continue
		}
		apply(key, value, "env "+name)
	}
	for _, o := range src.Overrides {
		apply(o.Key, o.Value, o.Source)
	}

	for _, s := range settings() {
		if s.check == nil {
			continue
		}
		if err := s.check(&cfg); err != nil {
			errs = append(errs, &Problem{Key: s.key, Source: origin[s.key], Msg: err.Error()})
		}
	}
	set := func(key string) bool { _, ok := origin[key]; return ok }
	errs = append(errs, checkClusters(&cfg, set, func(key string) string { return sourceOf(origin, key) })...)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &cfg, nil
}

// sourceOf is where key's value came from: its own source, else that of
// the entry or list holding it (kubernetes.clusters[1].name is in
// kubernetes.clusters[1], in kubernetes.clusters).
func sourceOf(origin map[string]string, key string) string {
	for k := key; k != ""; {
		if s, ok := origin[k]; ok {
			return s
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return ""
}

// EnvName is the environment variable that sets key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func keyForEnv(name string, table map[string]setting) (string, bool) {
	for key := range table {
		if EnvName(key) == name {
			return key, true
		}
	}
	return "", false
}

// fileValue is one scalar found in the YAML file, or a structural problem.
type fileValue struct {
	key, value, pos, err string
}

func readFile(path string) ([]fileValue, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("parse config %s: %w", path, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	var out []fileValue
	walk(path, "", doc.Content[0], &out)
	return out, nil
}

func walk(path, prefix string, n *yaml.Node, out *[]fileValue) {
	pos := fmt.Sprintf("%s:%d:%d", path, n.Line, n.Column)
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if prefix != "" {
				key = prefix + "." + k.Value
			}
			walk(path, key, v, out)
		}
	case yaml.ScalarNode:
		if prefix == "" {
			*out = append(*out, fileValue{key: "(document)", pos: pos, err: "must be a mapping of settings"})
			return
		}
		if n.Tag == "!!null" {
			return
		}
		*out = append(*out, fileValue{key: prefix, value: n.Value, pos: pos})
	case yaml.SequenceNode:
		if len(n.Content) > 0 && n.Content[0].Kind == yaml.MappingNode {
			// A list of mappings: each entry, then its fields, as KEY[i].FIELD.
			for i, c := range n.Content {
				key := fmt.Sprintf("%s[%d]", prefix, i)
				if c.Kind != yaml.MappingNode {
					*out = append(*out, fileValue{key: key, pos: fmt.Sprintf("%s:%d:%d", path, c.Line, c.Column), err: "must be a mapping, like the list's other entries"})
					continue
				}
				*out = append(*out, fileValue{key: key, pos: fmt.Sprintf("%s:%d:%d", path, c.Line, c.Column)})
				walk(path, key, c, out)
			}
			return
		}
		var items []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				*out = append(*out, fileValue{key: prefix, pos: pos, err: "must be a list of single values"})
				return
			}
			items = append(items, c.Value)
		}
		*out = append(*out, fileValue{key: prefix, value: strings.Join(items, ","), pos: pos})
	case yaml.AliasNode:
		walk(path, prefix, n.Alias, out)
	default:
		key := prefix
		if key == "" {
			key = "(document)"
		}
		*out = append(*out, fileValue{key: key, pos: pos, err: "must be a single value or a mapping"})
	}
}

// unknownMsg explains an unknown key, naming the keys of a section when the
// key is one.
func unknownMsg(key string, table map[string]setting) string {
	var under []string
	for k := range table {
		if strings.HasPrefix(k, key+".") {
			under = append(under, k)
		}
	}
	if len(under) == 0 {
		return "unknown setting"
	}
	slices.Sort(under)
	return "is a section, not a value; it holds " + strings.Join(under, ", ")
}
