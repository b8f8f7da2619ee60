package dialpad_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// TestIsNotFoundIsRefused checks which answers the helpers name, through a
// wrap as callers see them: a 4xx (429 included) made nothing, a 404 is
// gone; a 5xx or no answer is neither.
func TestIsNotFoundIsRefused(t *testing.T) {
	tests := []struct {
		name              string
		err               error
		notFound, refused bool
	}{
		{"nil", nil, false, false},
		{"not an answer", context.DeadlineExceeded, false, false},
		{"400", &dialpad.APIError{Status: 400}, false, true},
		{"401", &dialpad.APIError{Status: 401}, false, true},
		{"404", &dialpad.APIError{Status: 404}, true, true},
		{"429", &dialpad.APIError{Status: 429}, false, true},
		{"499", &dialpad.APIError{Status: 499}, false, true},
		{"500", &dialpad.APIError{Status: 500}, false, false},
		{"399", &dialpad.APIError{Status: 399}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err
			if err != nil {
				err = fmt.Errorf("dialpad: create websocket: %w", err)
			}
			if got := dialpad.IsNotFound(err); got != tt.notFound {
				t.Errorf("IsNotFound(%v) = %v, want %v", err, got, tt.notFound)
			}
			if got := dialpad.IsRefused(err); got != tt.refused {
				t.Errorf("IsRefused(%v) = %v, want %v", err, got, tt.refused)
			}
		})
	}
}
