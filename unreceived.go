package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// unreceived counts, by event type in the order first met, the events a
// trigger command published that nobody received.
type unreceived struct {
	types    []string       // with no websocket frame and no webhook POST
	unsubbed []string       // of those, the types no enabled subscription takes
	events   map[string]int // events by type
}

// add records n events of typ that nobody received; unsubscribed says no
// enabled subscription takes typ.
func (u *unreceived) add(typ string, n int, unsubscribed bool) {
	if u.events == nil {
		u.events = make(map[string]int)
	}
	if !slices.Contains(u.types, typ) {
		u.types = append(u.types, typ)
	}
	if unsubscribed && !slices.Contains(u.unsubbed, typ) {
		u.unsubbed = append(u.unsubbed, typ)
	}
	u.events[typ] += n
}

// say writes, once for the command, what nobody received and why: a line
// for each type no subscription takes (with the command that makes one),
// then one line for the rest, which a connected listen would have had.
func (u *unreceived) say(w io.Writer) {
	var unheard []string
	total := 0
	for _, typ := range u.types {
		if slices.Contains(u.unsubbed, typ) {
			fmt.Fprintf(w, "nobody received the %s: no enabled %s subscription takes them (`dialpad-tunnel subscriptions list --type %s`; `subscriptions create --type %s --endpoint-id <websocket id>` makes one)\n",
				eventsOf(u.events[typ], typ), typ, typ, typ)
			continue
		}
		unheard = append(unheard, typ)
		total += u.events[typ]
	}
	if len(unheard) > 0 {
		fmt.Fprintf(w, "nobody received the %s: is `dialpad-tunnel listen` connected to the emulator?\n", eventsOf(total, strings.Join(unheard, ", ")))
	}
}

// eventsOf is "1 sms event", "6 sms, contact events".
func eventsOf(n int, types string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s event", n, types)
	}
	return fmt.Sprintf("%d %s events", n, types)
}
