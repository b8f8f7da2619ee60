package dialpad

// Backoff exposes the retry wait computation to the external tests.
var Backoff = backoff
