// Command dialpad-tunnel receives Dialpad events over a websocket and
// re-POSTs each one to a local webhook handler, so the handler runs
// unchanged behind NAT or on a host with no inbound ports.
//
// This package only turns flags and environment variables into the Config
// structs of the other packages and runs them.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// stopSignals ask a command to stop gracefully: an interrupt (Ctrl-C),
// SIGTERM (a supervisor), and SIGHUP (the terminal or ssh session that
// started it closed), whose default action would end listen at once,
// without its last lines and leaving its control socket behind. A SIGHUP
// ignored at start (nohup) stays ignored: the process was asked to outlive
// its terminal.
func stopSignals() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

func main() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, stopSignals()...)
	ctx, cancel := context.WithCancelCause(context.Background())
	ended := make(chan struct{})
	go onStopSignals(sigs, cancel, ended)
	err := runArgs(ctx, os.Stdout, os.Stderr, os.Args)
	close(ended) // a command that ended by itself was not interrupted
	if err != nil {
		say("dialpad-tunnel: "+err.Error(), time.Second)
		var ec cli.ExitCoder
		if errors.As(err, &ec) {
			os.Exit(ec.ExitCode())
		}
		// A command a stop signal cut short (an events replay waiting for
		// its answer) exits as a shell expects: 128 + the signal. An error
		// of its own met while it stopped (a full disk) is still 1.
		var sr signalReceived
		if errors.Is(err, context.Canceled) && errors.As(context.Cause(ctx), &sr) {
			if s, ok := sr.sig.(syscall.Signal); ok {
				os.Exit(128 + int(s))
			}
		}
		os.Exit(1)
	}
}

// onStopSignals owns sigs, on which stopSignals arrive, until the process
// ends, and stops at once when ended is closed before the first one. The
// first signal asks the command to stop gracefully (cancel). A second one
// ends the process at once (the spool keeps what was accepted, as after a
// crash), unless it comes within a second: that is taken for the same
// keypress delivered twice (by the terminal and by a wrapper that forwards
// signals). It is caught, not left to the default action: a process
// started with interrupts ignored (a background job of a script) would
// get that ignoring back.
func onStopSignals(sigs chan os.Signal, cancel context.CancelCauseFunc, ended <-chan struct{}) {
	var first os.Signal
	select {
	case first = <-sigs:
	case <-ended:
		signal.Stop(sigs)
		return
	}
	say("dialpad-tunnel: "+stopNotice(first), 100*time.Millisecond)
	cancel(signalReceived{first})
	select {
	case <-time.After(time.Second):
	case <-ended:
		return // main exits now
	}
	select {
	case <-sigs: // within the second: the same one delivered twice
	default:
	}
	quitOn(sigs, first)
}

// say writes line to stderr, waiting for the write within at most: a
// stderr that is not read (a pipe nobody reads, a paused terminal) must
// not keep a stop signal from stopping the command, nor the process from
// exiting. The write goes on meanwhile, on a goroutine that owns nothing
// and ends with it or with the process.
func say(line string, within time.Duration) {
	said := make(chan struct{})
	go func() {
		fmt.Fprintln(os.Stderr, line)
		close(said)
	}()
	t := time.NewTimer(within)
	defer t.Stop()
	select {
	case <-said:
	case <-t.C:
	}
}

// signalReceived is the cause of the context a stop signal ended, as
// signal.NotifyContext's: "interrupt signal received", and
// context.Canceled to errors.Is.
type signalReceived struct{ sig os.Signal }

func (s signalReceived) Error() string        { return s.sig.String() + " signal received" }
func (s signalReceived) Is(target error) bool { return target == context.Canceled }

// stopNotice is the line that says a graceful stop began on sig, and
// what quits at once.
func stopNotice(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM: stopping; another SIGTERM (or an interrupt) quits at once"
	case syscall.SIGHUP:
		return "SIGHUP (the terminal or session closed): stopping as on SIGTERM; SIGTERM or another SIGHUP quits at once"
	}
	return "stopping; interrupt again to quit at once"
}

// signalName is how messages name a stop signal.
func signalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return "interrupt"
}

// quitOn ends the process at once when a signal arrives on sigs: by that
// signal, with its default action, so that a shell sees a process the
// signal killed (and a script stops); or, when that action is to ignore
// it (the process started so), with the shell's status for it, 128 + its
// number. first is the signal that began the graceful stop. It runs from
// the second stop signal on, until the process ends.
func quitOn(sigs <-chan os.Signal, first os.Signal) {
	sig := <-sigs
	again := " again"
	if sig != first {
		again = ""
	}
	say(fmt.Sprintf("dialpad-tunnel: %s%s: quitting at once", signalName(sig), again), 100*time.Millisecond)
	runQuitCleanups(time.Second)
	code := 130
	if s, ok := sig.(syscall.Signal); ok {
		code = 128 + int(s)
		signal.Reset(s)
		if self, err := os.FindProcess(os.Getpid()); err == nil && self.Signal(s) == nil {
			time.Sleep(100 * time.Millisecond) // the signal ends the process meanwhile, unless ignored
		}
	}
	os.Exit(code)
}

// quitCleanups are what commands made that nothing would remove once the
// process quits at once (demo's temporary spool folder): quitOn runs them.
var quitCleanups struct {
	sync.Mutex
	next int
	fns  map[int]func()
}

// atQuit has fn run should the process quit at once, until the returned
// func is called (once fn is no longer needed, or has run by other means).
func atQuit(fn func()) (drop func()) {
	quitCleanups.Lock()
	defer quitCleanups.Unlock()
	if quitCleanups.fns == nil {
		quitCleanups.fns = map[int]func(){}
	}
	id := quitCleanups.next
	quitCleanups.next++
	quitCleanups.fns[id] = fn
	return func() {
		quitCleanups.Lock()
		defer quitCleanups.Unlock()
		delete(quitCleanups.fns, id)
	}
}

// runQuitCleanups runs the atQuit funcs, waiting for them within at most:
// quitting at once must not wait on a disk that hangs.
func runQuitCleanups(within time.Duration) {
	quitCleanups.Lock()
	fns := make([]func(), 0, len(quitCleanups.fns))
	for _, fn := range quitCleanups.fns {
		fns = append(fns, fn)
	}
	quitCleanups.Unlock()
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Go(fn) // side by side: one that hangs holds up no other
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(within):
	}
}

// runArgs runs the command args names (args[0] is the program), checked
// and arranged by arrangeArgs.
func runArgs(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	app := newApp(stdout, stderr)
	args, typed, err := arrange(app.Commands, args)
	if err != nil {
		return err
	}
	return app.RunContext(context.WithValue(ctx, typedFlags{}, typed), args)
}

// newApp builds the command tree. stdout gets the event lines and reports,
// stderr the CLI's own errors.
func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:      "dialpad-tunnel",
		Usage:     "receive Dialpad events over a websocket and forward them to a local webhook handler",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		// main prints the error once; urfave must not print it too.
		ExitErrHandler:  func(*cli.Context, error) {},
		HideHelpCommand: true,
		Commands: []*cli.Command{
			listenCommand(),
			demoCommand(),
			emulatorCommand(),
			triggerCommand(),
			benchCommand(),
			benchBareCommand(),
			benchDirectCommand(),
			soakCommand(),
			setupCommand(),
			migrateCommand(),
			websocketsCommand(),
			subscriptionsCommand(),
			webhooksCommand(),
			doctorCommand(),
			eventsCommand(),
			statusCommand(),
		},
	}
	onUsageErrors(app.Commands)
	return app
}

// onUsageErrors makes every command report a usage error urfave finds
// itself (arrangeArgs finds the others first) as one line, without the
// whole help text after it.
func onUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError(err) }
		onUsageErrors(c.Subcommands)
	}
}

// envParseError matches urfave's error for an environment variable that
// does not parse as its flag's type; envKind, the type it names.
var (
	envParseError = regexp.MustCompile(`environment variable "([^"]+)" for flag ([\w-]+)`)
	envKind       = regexp.MustCompile(`as (\w+) value from environment variable`)
)

// usageError rewrites urfave's error for a bad environment variable to
// name the variable and its flag, without its value (an environment may
// hold secrets); others pass as they are.
func usageError(err error) error {
	msg := err.Error()
	m := envParseError.FindStringSubmatch(msg)
	if m == nil {
		return err
	}
	want := "want a value of its type"
	if k := envKind.FindStringSubmatch(msg); k != nil {
		want = "want " + kindWord(k[1])
	}
	if strings.Contains(msg, "out of range") {
		want = "it is out of range for a 64-bit whole number"
	}
	return fmt.Errorf("environment variable %s (for --%s): %s", m[1], m[2], want)
}

// kindWord says what urfave's type name takes.
func kindWord(kind string) string {
	switch kind {
	case "int", "int64", "uint", "uint64":
		return "a whole number"
	case "duration":
		return "a duration such as 30s or 5m"
	case "bool":
		return "true or false"
	}
	return "a " + kind
}
