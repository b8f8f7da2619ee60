package setup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/dialpad-tunnel/dialpad-tunnel/dialpad"
)

// Kind is what an Action does.
type Kind string

// The kinds of Action. Only Keep makes no REST write.
const (
	Keep    Kind = "ok"
	Create  Kind = "create"
	Update  Kind = "update"
	Replace Kind = "replace" // delete, then create: a field that PATCH cannot clear
	Delete  Kind = "delete"
)

// Action is one step of a Plan, on the websocket (Type "") or on one
// subscription.
type Action struct {
	Kind Kind
	// Key is the subscription's name in the file and the state; "" for the
	// websocket.
	Key  string
	Type dialpad.SubscriptionType
	// ID is the existing object, 0 when it is to be created.
	ID dialpad.ID
	// Changes describe the differences, e.g. "direction: all → inbound".
	// They never hold a secret.
	Changes []string

	oldType dialpad.SubscriptionType // Replace: the type of ID
	spec    SubscriptionSpec
	secret  string
}

// String describes the action in one line, without secrets.
func (a Action) String() string {
	what := "websocket"
	if a.Type != "" {
		what = fmt.Sprintf("%s subscription %q", a.Type, a.Key)
	}
	if a.ID != 0 {
		what += " (id " + a.ID.String() + ")"
	}
	s := fmt.Sprintf("%-8s %s", a.Kind, what)
	if len(a.Changes) > 0 {
		s += ": " + strings.Join(a.Changes, "; ")
	}
	return s
}

// Plan is the list of actions that make Dialpad match a File.
type Plan struct {
	Actions []Action
	state   State
}

// Writes is the number of actions that change Dialpad.
func (p Plan) Writes() int {
	n := 0
	for _, a := range p.Actions {
		if a.Kind != Keep {
			n++
		}
	}
	return n
}

// Config configures a Setup.
type Config struct {
	// Client talks to Dialpad; required.
	Client *dialpad.Client
	// APIBase names the API in the state file; required. It is compared
	// and saved as dialpad.CanonicalBase writes it.
	APIBase string
	// StatePath is the state file; required. A symbolic link is followed
	// (see RealStatePath): the file it names is locked and written.
	StatePath string
	// Logger receives a line per write; default discard.
	Logger *slog.Logger
	// LockWait is how long Lock waits for another run on the same state
	// file; 0 means DefaultLockWait.
	LockWait time.Duration
}

// DefaultLockWait is Config.LockWait's default: long enough for another
// run's few REST calls, short enough that a stuck run is reported.
const DefaultLockWait = 30 * time.Second

// Setup plans and applies setup files against one Dialpad account.
type Setup struct {
	cfg Config
}

// New validates cfg and returns a Setup.
func New(cfg Config) (*Setup, error) {
	switch {
	case cfg.Client == nil:
		return nil, errors.New("setup: config: Client is required")
	case cfg.APIBase == "":
		return nil, errors.New("setup: config: APIBase is required")
	case cfg.StatePath == "":
		return nil, errors.New("setup: config: StatePath is required")
	}
	cfg.APIBase = dialpad.CanonicalBase(cfg.APIBase)
	real, err := RealStatePath(cfg.StatePath)
	if err != nil {
		return nil, err
	}
	cfg.StatePath = real
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.LockWait <= 0 {
		cfg.LockWait = DefaultLockWait
	}
	return &Setup{cfg: cfg}, nil
}

// Plan reads the state file and the current objects (GET only) and returns
// what Apply would do to make Dialpad match f. Hold Lock from Plan to the
// end of Apply, or another run may plan from the same state.
func (s *Setup) Plan(ctx context.Context, f File) (Plan, error) {
	st, err := LoadState(s.cfg.StatePath)
	if err != nil {
		return Plan{}, err
	}
	if st.APIBase != "" && dialpad.CanonicalBase(st.APIBase) != s.cfg.APIBase {
		return Plan{}, fmt.Errorf("setup: state file %s belongs to %s, not %s: pass --state with another file", s.cfg.StatePath, st.APIBase, s.cfg.APIBase)
	}
	p := Plan{state: st}
	ws, err := s.planWebsocket(ctx, st, f.Websocket)
	if err != nil {
		return Plan{}, err
	}
	p.Actions = append(p.Actions, ws)
	inFile := map[string]bool{}
	for _, spec := range f.Subscriptions {
		inFile[spec.Name] = true
		a, err := s.planSubscription(ctx, st, spec, ws.ID)
		if err != nil {
			return Plan{}, err
		}
		p.Actions = append(p.Actions, a)
	}
	keys := make([]string, 0, len(st.Subscriptions))
	for k := range st.Subscriptions {
		if !inFile[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		m := st.Subscriptions[k]
		p.Actions = append(p.Actions, Action{Kind: Delete, Key: k, Type: m.Type, ID: m.ID, Changes: []string{"no longer in the file"}})
	}
	return p, nil
}

func (s *Setup) planWebsocket(ctx context.Context, st State, spec WebsocketSpec) (Action, error) {
	a := Action{Kind: Create, secret: spec.Secret}
	if spec.ID != 0 && st.WebsocketID != 0 && spec.ID != st.WebsocketID {
		// Taking the state's and saying "ok" would tell the user that
		// Dialpad matches a file it does not match.
		return a, fmt.Errorf("setup: the file names websocket %s (websocket: id:), but the state file %s manages websocket %s: "+
			"setup does not move its subscriptions to another websocket; write id: %s (or no id) to keep that one, or, to move to websocket %s, "+
			"run setup once with \"subscriptions: []\" and id: %s, remove the state file, and run it again with id: %s",
			spec.ID, s.cfg.StatePath, st.WebsocketID, st.WebsocketID, spec.ID, st.WebsocketID, spec.ID)
	}
	id := st.WebsocketID
	if id == 0 {
		id = spec.ID
	}
	if id == 0 {
		a.Changes = []string{signedText(spec.Secret)}
		return a, nil
	}
	ws, err := s.cfg.Client.Websocket(ctx, id)
	if dialpad.IsNotFound(err) && st.WebsocketID != 0 && spec.ID == 0 { // one the file names is not replaced: the file would then name another
		a.Changes = []string{"websocket " + id.String() + " is gone", signedText(spec.Secret)}
		return a, nil
	}
	if err != nil {
		return a, fmt.Errorf("setup: %w", err)
	}
	a.ID, a.Kind = ws.ID, Keep
	if ws.Secret() != spec.Secret {
		a.Kind = Update
		a.Changes = []string{"secret " + secretChange(ws.Secret(), spec.Secret)}
	}
	return a, nil
}

func (s *Setup) planSubscription(ctx context.Context, st State, spec SubscriptionSpec, wsID dialpad.ID) (Action, error) {
	a := Action{Kind: Create, Key: spec.Name, Type: spec.Type, spec: spec}
	m, ok := st.Subscriptions[spec.Name]
	if !ok {
		return a, nil
	}
	if m.Type != spec.Type {
		a.Kind, a.ID, a.oldType = Replace, m.ID, m.Type
		a.Changes = []string{fmt.Sprintf("type %s → %s", m.Type, spec.Type)}
		return a, nil
	}
	cur, err := s.cfg.Client.Subscription(ctx, spec.Type, m.ID)
	if dialpad.IsNotFound(err) {
		a.Changes = []string{"subscription " + m.ID.String() + " is gone"}
		return a, nil
	}
	if err != nil {
		return a, fmt.Errorf("setup: %w", err)
	}
	changes, recreate := Diff(spec, cur, wsID)
	a.ID, a.Changes, a.oldType = m.ID, changes, m.Type
	switch {
	case recreate:
		a.Kind = Replace
	case len(changes) > 0:
		a.Kind = Update
	default:
		a.Kind = Keep
	}
	return a, nil
}

func signedText(secret string) string {
	if secret == "" {
		return "unsigned (plain JSON events)"
	}
	return "signed (HS256 JWT events)"
}

func secretChange(from, to string) string {
	switch {
	case from == "":
		return "set"
	case to == "":
		return "removed"
	}
	return "changed"
}
