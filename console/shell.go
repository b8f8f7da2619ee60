package console

import "strings"

// ShellWord is s as one word a POSIX shell reads back as s, for a word in
// a command a message gives to paste (a path, an id): bare when it is made of safe
// characters only, else in single quotes.
func ShellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/:@+=%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
