package setup

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
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
// nil when the list comes through an alias.
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
			return eachKey(v, "websocket", websocketKeys, fieldValue(WebsocketSpec{}, "websocket"))
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
				where := fmt.Sprintf("subscription %d", i+1)
				if err := eachKey(item, where, subscriptionKeys, fieldValue(SubscriptionSpec{}, where)); err != nil {
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
// nil, with each key and value, then does the same for each key a merge
// key (<<) brings that m does not set itself: the value the decoder takes,
// with its own line. where names m in errors. An alias in m's place, and
// a merge of what is not a mapping, are left to the decoder.
func eachKey(m *yaml.Node, where string, allowed []string, fn func(key string, v *yaml.Node) error) error {
	switch {
	case m.Kind == yaml.AliasNode || isNull(m):
		return nil
	case m.Kind != yaml.MappingNode:
		return fmt.Errorf("line %d: %s must be a mapping of %s", m.Line, where, strings.Join(allowed, ", "))
	}
	return eachKeyOf(m, where, allowed, fn, false, map[string]bool{}, map[*yaml.Node]bool{})
}

// eachKeyOf is eachKey for the mapping m, or, when merged, for one a merge
// key brought: then a key in set, set by the mapping it is merged into (or
// by a merge before it), is skipped, as the decoder skips it. It walks m's
// merges as the decoder does: m's own keys first, then its last merge key,
// a mapping or each of a list of them in order, each one's merges after
// its own keys. visited ends a merge of a mapping into itself.
func eachKeyOf(m *yaml.Node, where string, allowed []string, fn func(key string, v *yaml.Node) error, merged bool, set map[string]bool, visited map[*yaml.Node]bool) error {
	if visited[m] {
		return nil
	}
	visited[m] = true
	var merge *yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Value == "<<" {
			merge = v
			continue
		}
		if merged && set[k.Value] {
			continue
		}
		set[k.Value] = true
		if !slices.Contains(allowed, k.Value) {
			return fmt.Errorf("line %d: unknown key %q in %s; the keys allowed there are %s", k.Line, k.Value, where, strings.Join(allowed, ", "))
		}
		if fn != nil {
			if err := fn(k.Value, v); err != nil {
				return err
			}
		}
	}
	if merge == nil {
		return nil
	}
	from := []*yaml.Node{resolved(merge)}
	if from[0].Kind == yaml.SequenceNode {
		from = from[0].Content
	}
	for _, n := range from {
		if n = resolved(n); n.Kind == yaml.MappingNode {
			if err := eachKeyOf(n, where, allowed, fn, true, set, visited); err != nil {
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

// fieldValue checks the value v of each key of a mapping decoded into the
// struct s (named where), after wholeID: the value is decoded alone into
// its field's type, so the decoder's own rules decide, and a value of the
// wrong kind is an error that names the line, the field and, in words,
// what it wants. The decoder's error ("cannot unmarshal !!str `abc` into
// bool") named Go types and echoed the value, which may be a secret: this
// one never shows it.
func fieldValue(s any, where string) func(key string, v *yaml.Node) error {
	fields := make(map[string]reflect.Type)
	t := reflect.TypeOf(s)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		fields[name] = t.Field(i).Type
	}
	return func(key string, v *yaml.Node) error {
		if err := wholeID(key, v); err != nil {
			return err
		}
		ft, ok := fields[key]
		if !ok {
			return nil
		}
		if n := resolved(v); ft.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode {
			// An item of a list: its own line, and what each item must be.
			for _, item := range n.Content {
				if !fits(item, ft.Elem()) {
					return fmt.Errorf("line %d: %s: each item of %s must be %s, not %s", item.Line, where, key, wanted(ft.Elem()), found(item))
				}
			}
			return nil
		}
		if !fits(v, ft) || textBool(v, ft) {
			return fmt.Errorf("line %d: %s: %s must be %s, not %s", v.Line, where, key, wanted(ft), found(v))
		}
		return nil
	}
}

// fits reports whether the decoder takes v into a value of type t: it
// refuses it with a *yaml.TypeError otherwise.
func fits(v *yaml.Node, t reflect.Type) bool {
	var te *yaml.TypeError
	return !errors.As(v.Decode(reflect.New(t).Interface()), &te)
}

// textBool reports whether v, for a field of type t that is a bool, is
// text the decoder would take anyway: it takes YAML 1.1's yes, no, on,
// off, y and n for a bool even quoted ("yes") or tagged (!!str yes). Text
// is refused; true and false, and those words unquoted, are not.
func textBool(v *yaml.Node, t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	n := resolved(v)
	return t.Kind() == reflect.Bool && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" && n.Style != 0
}

// resolved is the node an alias points to, or n itself.
func resolved(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// found says what kind of value n holds, without the value itself.
func found(n *yaml.Node) string {
	n = resolved(n)
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping (key: value)"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "true or false"
	case "!!timestamp":
		return "a date"
	case "!!str":
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			return "quoted text"
		}
		return "text"
	}
	return "a value of another kind"
}

// wanted says in words what a field of type t takes.
func wanted(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Pointer:
		return wanted(t.Elem())
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number without quotes (an id such as 1234)"
	case reflect.String:
		return "a single value (a word or text)"
	case reflect.Slice:
		return "a list: [a, b], or one \"- item\" line each"
	}
	return "a value of another kind"
}

// typeError rewrites the decoder's *yaml.TypeError, for a value that
// fieldValue could not check (in a mapping behind an alias), in the words
// fieldValue uses: its line and what the field wants, never the value the
// decoder quotes. Other errors are returned as they are.
func typeError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		m := decoderTypeError.FindStringSubmatch(e)
		if m == nil {
			msgs = append(msgs, "a value of the wrong kind (see examples/setup.yaml)")
			continue
		}
		want := "a value of another kind (see examples/setup.yaml)"
		if t, ok := goTypes[m[2]]; ok {
			want = wanted(t)
		}
		msgs = append(msgs, fmt.Sprintf("line %s: a value of the wrong kind: want %s", m[1], want))
	}
	return errors.New(strings.Join(msgs, "; "))
}

// decoderTypeError is one line of a *yaml.TypeError: its line, then, after
// the value, the Go type it was decoded into.
var decoderTypeError = regexp.MustCompile("^line ([0-9]+): cannot unmarshal .* into (\\S+)$")

// goTypes are the types of the setup file's fields, by their Go name as
// the decoder's errors write it (dialpad.ID, []string, bool, …).
var goTypes = func() map[string]reflect.Type {
	m := make(map[string]reflect.Type)
	for _, s := range []any{File{}, WebsocketSpec{}, SubscriptionSpec{}} {
		t := reflect.TypeOf(s)
		for i := range t.NumField() {
			for ft := t.Field(i).Type; ; ft = ft.Elem() {
				m[ft.String()] = ft
				if ft.Kind() != reflect.Pointer && ft.Kind() != reflect.Slice {
					break
				}
			}
		}
	}
	return m
}()

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
