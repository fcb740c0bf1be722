package rules

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// item is one top-level map of a rules file, with its keys.
type item struct {
	file string
	node *yaml.Node
	keys map[string]*yaml.Node // value nodes
	kpos map[string]Position   // key positions
	pos  Position
}

func (it *item) posOf(n *yaml.Node) Position {
	return Position{File: it.file, Line: n.Line, Col: n.Column}
}

func newItem(file string, n *yaml.Node) (*item, error) {
	it := &item{file: file, node: n, keys: map[string]*yaml.Node{}, kpos: map[string]Position{}}
	it.pos = it.posOf(n)
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("rules content is not a yaml array of objects: found %s", kindName(n))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, &locError{pos: it.posOf(k), err: fmt.Errorf("item keys must be strings")}
		}
		it.keys[k.Value] = v
		it.kpos[k.Value] = it.posOf(k)
	}
	return it, nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.ScalarNode:
		return "a scalar"
	case yaml.AliasNode:
		return "an alias"
	}
	return "an unknown node"
}

func (it *item) has(key string) bool { _, ok := it.keys[key]; return ok }

// errf returns a positioned error at key's value (or at the item).
func (it *item) errf(key string, format string, args ...any) error {
	pos := it.pos
	if n, ok := it.keys[key]; ok {
		pos = it.posOf(n)
	}
	return &locError{pos: pos, err: fmt.Errorf(format, args...)}
}

// str returns a scalar value.
func (it *item) str(key string) (string, error) {
	n, ok := it.keys[key]
	if !ok {
		return "", it.errf(key, "item has no mapping for key '%s'", key)
	}
	n = deref(n)
	if n.Kind != yaml.ScalarNode {
		return "", it.errf(key, "value of '%s' must be a string, found %s", key, kindName(n))
	}
	return n.Value, nil
}

// text returns a scalar value as a condText for offset mapping.
func (it *item) text(key string) (*condText, error) {
	s, err := it.str(key)
	if err != nil {
		return nil, err
	}
	n := deref(it.keys[key])
	p := textPart{pos: it.posOf(n)}
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		p.block = true
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		p.shift = 1
		p.block = strings.Contains(s, "\n")
	}
	return newCondText(s, p), nil
}

func (it *item) boolean(key string) (bool, error) {
	n := deref(it.keys[key])
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		return false, it.errf(key, "value of '%s' must be a boolean", key)
	}
	return b, nil
}

// strList returns a sequence of scalars.
func (it *item) strList(key string) ([]string, error) {
	n := deref(it.keys[key])
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, it.errf(key, "value of '%s' must be a sequence, found %s", key, kindName(n))
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		c = deref(c)
		if c.Kind != yaml.ScalarNode {
			return nil, &locError{pos: it.posOf(c), err: fmt.Errorf("items of '%s' must be strings, found %s", key, kindName(c))}
		}
		out = append(out, c.Value)
	}
	return out, nil
}

// deref follows YAML aliases.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n == nil {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}
	}
	return n
}
