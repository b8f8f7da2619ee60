package dialpadtest

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"strconv"
)

// templateFS holds one sample event per type, copied from
// shared/dialpad/payloads. Generated events keep their key order.
//
//go:embed templates/*.json
var templateFS embed.FS

// object is a JSON object that keeps its key order. Leaf values (and
// arrays) are kept as compact raw JSON; nested objects are objects so that
// their fields can be edited too.
type object struct {
	fields []field
}

// field is one member of an object: exactly one of raw and obj is set.
type field struct {
	key    string
	prefix []byte // `"key":`
	raw    []byte
	obj    *object
}

// loadTemplate parses templates/<typ>.json.
func loadTemplate(typ string) (*object, error) {
	data, err := templateFS.ReadFile("templates/" + typ + ".json")
	if err != nil {
		return nil, err
	}
	return parseObject(data)
}

// parseObject parses a JSON object keeping key order. Numbers are kept as
// written.
func parseObject(data []byte) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("template: not a JSON object")
	}
	o := &object{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
		key := tok.(string) // inside an object every other token is a key
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("template: %s: %w", key, err)
		}
		prefix, _ := json.Marshal(key)
		f := field{key: key, prefix: append(prefix, ':')}
		if raw[0] == '{' {
			if f.obj, err = parseObject(raw); err != nil {
				return nil, err
			}
		} else {
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				return nil, fmt.Errorf("template: %s: %w", key, err)
			}
			f.raw = buf.Bytes()
		}
		o.fields = append(o.fields, f)
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	return o, nil
}

// clone copies o's field list; nested objects stay shared until edited
// through sub.
func (o *object) clone() *object {
	return &object{fields: append([]field(nil), o.fields...)}
}

func (o *object) index(key string) int {
	for i := range o.fields {
		if o.fields[i].key == key {
			return i
		}
	}
	panic("dialpadtest: template has no field " + key) // templates are embedded: a programming error
}

// set replaces the value of key with raw JSON (which may be an object).
func (o *object) set(key string, raw []byte) *object {
	i := o.index(key)
	o.fields[i].raw, o.fields[i].obj = raw, nil
	return o
}

// sub returns a private copy of the nested object at key, installed in o,
// for editing.
func (o *object) sub(key string) *object {
	i := o.index(key)
	if o.fields[i].obj == nil {
		panic("dialpadtest: template field " + key + " is not an object")
	}
	c := o.fields[i].obj.clone()
	o.fields[i].obj = c
	return c
}

// appendTo appends o as compact JSON.
func (o *object) appendTo(b []byte) []byte {
	b = append(b, '{')
	for i := range o.fields {
		f := &o.fields[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f.prefix...)
		if f.obj != nil {
			b = f.obj.appendTo(b)
		} else {
			b = append(b, f.raw...)
		}
	}
	return append(b, '}')
}

// bytes returns o as compact JSON.
func (o *object) bytes() []byte { return o.appendTo(make([]byte, 0, 1024)) }

// JSON value helpers.

var (
	jsonNull  = []byte("null")
	jsonTrue  = []byte("true")
	jsonFalse = []byte("false")
)

func jInt(n int64) []byte { return strconv.AppendInt(nil, n, 10) }

func jFloat(f float64) []byte { return strconv.AppendFloat(nil, f, 'f', -1, 64) }

func jBool(v bool) []byte {
	if v {
		return jsonTrue
	}
	return jsonFalse
}

func jStr(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// jIntOrNull is jInt(n), or null when n is 0.
func jIntOrNull(n int64) []byte {
	if n == 0 {
		return jsonNull
	}
	return jInt(n)
}

// jStrs is a JSON array of strings.
func jStrs(ss ...string) []byte {
	if ss == nil {
		return []byte("[]")
	}
	b, _ := json.Marshal(ss)
	return b
}
