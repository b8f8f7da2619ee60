package setup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ErrNothingDeclared is wrapped by Parse for a file that sets neither
// websocket nor subscriptions: an empty or comment-only file, /dev/null, or
// the wrong file. Applying it would delete every subscription setup manages
// and remove the websocket's secret, so it is refused; `subscriptions: []`
// beside the websocket: block asks for the deletes explicitly (without that
// block, the secret is removed too).
var ErrNothingDeclared = errors.New(`no websocket: or subscriptions: key (an empty file, only comments, or the wrong file?); ` +
	`refused, because applying it would delete every subscription setup manages and remove the websocket's secret. ` +
	`To delete them all on purpose, keep your websocket: block as it is and write "subscriptions: []"`)

// The keys a setup file allows at each level, from the yaml tags, so they
// cannot drift from the structs.
var (
	fileKeys         = yamlKeys(File{})
	websocketKeys    = yamlKeys(WebsocketSpec{})
	subscriptionKeys = yamlKeys(SubscriptionSpec{})
)

// yamlKeys returns the yaml key of every field of the struct v, in order.
func yamlKeys(v any) []string {
	t := reflect.TypeOf(v)
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		keys = append(keys, name)
	}
	return keys
}

// checkShape checks the document's structure before it is decoded: the
// top level, websocket and every subscription are mappings of known keys,
// and subscriptions is a list. Its errors give the line and, for an
// unknown key, the keys allowed there, where the decoder would name Go
// types. A file that declares nothing wraps ErrNothingDeclared. lines are
// the lines of the subscriptions' items, for the errors of later checks;
// nil when the list comes through an alias or a merge key.
func checkShape(data []byte) (lines []int, err error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	// The decoder reads the first document only: a second one would be
	// ignored without a word. An empty one (a trailing ---) ignores nothing.
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(next.Content) > 0 && !isNull(next.Content[0]) {
			return nil, fmt.Errorf("line %d: a second YAML document (after ---): a setup file is one document; merge them into one, or remove the one you do not mean", next.Line)
		}
	}
	if len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, ErrNothingDeclared
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping with the keys %s", root.Line, strings.Join(fileKeys, ", "))
	}
	// A merge key (<<) may bring either: the decoder resolves it.
	declared, listed := hasMergeKey(root), hasMergeKey(root)
	err = eachKey(root, "the top level", fileKeys, func(key string, v *yaml.Node) error {
		listed = listed || key == "subscriptions"
		switch {
		case key == "subscriptions" && isNull(v):
			return fmt.Errorf(`line %d: subscriptions has no list under it: write "subscriptions: []" for none`, v.Line)
		case isNull(v):
			return nil
		case v.Kind == yaml.AliasNode: // the decoder checks what it points to
			declared = true
			return nil
		}
		declared = true
		switch key {
		case "websocket":
			return eachKey(v, "websocket", websocketKeys, wholeID)
		case "subscriptions":
			if v.Kind != yaml.SequenceNode {
				return fmt.Errorf("line %d: subscriptions must be a list (each item starting with \"- type: ...\")", v.Line)
			}
			for i, item := range v.Content {
				// The decoder drops a null item without a word: applying
				// the file would then delete the subscription it was.
				if isNull(item) {
					return fmt.Errorf("line %d: subscription %d is empty: give it its type (- type: call), or remove the dash", item.Line, i+1)
				}
				if err := eachKey(item, fmt.Sprintf("subscription %d", i+1), subscriptionKeys, wholeID); err != nil {
					return err
				}
				lines = append(lines, item.Line)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !declared {
		return nil, ErrNothingDeclared
	}
	if !listed {
		return nil, errors.New(`no subscriptions: key: refused, because applying it would delete every subscription setup manages; ` +
			`list them, or write "subscriptions: []" to delete them all on purpose`)
	}
	return lines, nil
}

// eachKey checks that m is a mapping of allowed keys and calls fn, if not
// nil, with each key and value. where names m in errors. Aliases and merge
// keys are left to the decoder.
func eachKey(m *yaml.Node, where string, allowed []string, fn func(key string, v *yaml.Node) error) error {
	switch {
	case m.Kind == yaml.AliasNode || isNull(m):
		return nil
	case m.Kind != yaml.MappingNode:
		return fmt.Errorf("line %d: %s must be a mapping of %s", m.Line, where, strings.Join(allowed, ", "))
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Value == "<<" {
			continue
		}
		if !slices.Contains(allowed, k.Value) {
			return fmt.Errorf("line %d: unknown key %q in %s; the keys allowed there are %s", k.Line, k.Value, where, strings.Join(allowed, ", "))
		}
		if fn != nil {
			if err := fn(k.Value, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// wholeID refuses a fractional id (id, target_id): the decoder would
// drop the fraction without a word, and target_id: 1.9 become office 1.
func wholeID(key string, v *yaml.Node) error {
	if (key == "id" || key == "target_id") && v.Kind == yaml.ScalarNode && v.Tag == "!!float" {
		return fmt.Errorf("line %d: %s %s: want a positive whole id", v.Line, key, v.Value)
	}
	return nil
}

// hasMergeKey reports whether the mapping m has a merge key (<<).
func hasMergeKey(m *yaml.Node) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "<<" {
			return true
		}
	}
	return false
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }
