package dialpad

import (
	"bytes"
	"fmt"
	"strconv"
)

// ID is a Dialpad object id. The OpenAPI schemas type ids as int64 but live
// responses send them as decimal strings, so UnmarshalJSON accepts both (and
// null, which decodes to 0). MarshalJSON always emits a JSON number, as the
// request schemas (endpoint_id, target_id) require.
type ID int64

// ParseID parses a positive decimal id such as "1000".
func ParseID(s string) (ID, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("dialpad: invalid id %q: want a positive decimal integer", s)
	}
	return ID(n), nil
}

// String returns the id in decimal.
func (id ID) String() string { return strconv.FormatInt(int64(id), 10) }

// MarshalJSON encodes the id as a JSON number.
func (id ID) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, int64(id), 10), nil
}

// UnmarshalJSON accepts a JSON number (123), a JSON string holding a decimal
// integer ("123"), an empty string or null (both 0).
func (id *ID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*id = 0
		return nil
	}
	s := string(b)
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		unq, err := strconv.Unquote(s)
		if err != nil {
			return fmt.Errorf("dialpad: invalid id %s", s)
		}
		if unq == "" {
			*id = 0
			return nil
		}
		s = unq
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("dialpad: invalid id %s: want an integer", clip(string(b), 40))
	}
	*id = ID(n)
	return nil
}
