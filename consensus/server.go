package consensus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// logCacheSize is how many recent entries stay in memory in front of
// bbolt, so replication to followers that keep up never reads the disk.
const logCacheSize = 512

// Peer is a Raft server as bootstrap and leader lookups name it.
type Peer struct {
	ID   string
	Addr string
}

// ServerInfo is one server of the Raft configuration.
type ServerInfo struct {
	ID   string
	Addr string
	// Voter is false for a non-voter (a server catching up before
	// promotion).
	Voter bool
}

// Stats is a point-in-time view of this server's Raft replica.
type Stats struct {
	// RaftState is "Follower", "Candidate", "Leader" or "Shutdown".
	RaftState string
	Term      uint64
	// LastIndex is the last entry in this server's log (committed or not).
	LastIndex   uint64
	CommitIndex uint64
	// AppliedIndex is the last entry handed to the state machine; it is
	// what peers compare against the leader's CommitIndex to judge
	// catch-up.
	AppliedIndex uint64
	// StateIndex is the index of the state State returns.
	StateIndex uint64
	// LastContact is when a follower last heard from the leader (zero on
	// the leader itself and before any contact).
	LastContact       time.Time
	LastSnapshotIndex uint64
	LastSnapshotTerm  uint64
	// Leader is the leader as this server knows it; zero when unknown.
	Leader Peer
	// Ready is true on a leader whose post-election Barrier completed.
	Ready bool
}

// Server is one Raft replica of the cluster state. Open starts it; its
// methods are safe for concurrent use; Shutdown stops it.
type Server struct {
	cfg   Config
	log   *slog.Logger
	raft  *raft.Raft
	fsm   *fsm
	store *raftboltdb.BoltStore
	logs  raft.LogStore
	snaps raft.SnapshotStore
	addr  string

	// readyTerm is the term in which this server, as leader, completed a
	// Barrier; 0 while it is not a ready leader. Consistent reads and
	// "leading" notifications wait for it.
	readyTerm atomic.Uint64

	mu sync.Mutex
	// gen counts leadership changes, so a Barrier that finishes after a
	// newer change cannot announce stale leadership.
	gen     uint64
	leading bool
	subs    map[chan bool]struct{}
	closed  bool

	// rmu guards the read rounds of ConsistentState.
	rmu         sync.Mutex
	pendingRead *readRound
	reading     bool
	readsClosed bool

	shutdownCh   chan struct{}
	wg           sync.WaitGroup
	shutdownOnce sync.Once
	shutdownErr  error
}

// Open opens (or creates) the replica's storage under cfg.DataDir, starts
// the transport and Raft, and returns at once. A new server has no
// configuration: it waits to be bootstrapped (Bootstrap) or added by a
// leader. A server with state rejoins its cluster by itself.
func Open(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:        cfg,
		log:        logger,
		fsm:        newFSM(defaultDedupLimits),
		subs:       make(map[chan bool]struct{}),
		shutdownCh: make(chan struct{}),
	}
	var trans raft.Transport
	// fail releases what Open took before err; the Open error is the one
	// worth reporting, so cleanup errors are dropped.
	fail := func(err error) (*Server, error) {
		if c, ok := trans.(raft.WithClose); ok {
			_ = c.Close()
		}
		if s.store != nil {
			_ = s.store.Close()
		}
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data directory: %w", err)
	}
	boltOpts := *bbolt.DefaultOptions
	// Fail fast instead of blocking forever when another process holds the
	// database's lock.
	boltOpts.Timeout = time.Second
	// Rebuilding the freelist on open is cheap; syncing it on every commit
	// is not.
	boltOpts.NoFreelistSync = true
	dbPath := filepath.Join(cfg.DataDir, "raft.db")
	store, err := raftboltdb.New(raftboltdb.Options{Path: dbPath, BoltOptions: &boltOpts})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w: %s", ErrDataDirLocked, dbPath)
		}
		return nil, fmt.Errorf("opening %s: %w", dbPath, err)
	}
	s.store = store
	if s.logs, err = raft.NewLogCache(logCacheSize, s.store); err != nil {
		return fail(fmt.Errorf("log cache: %w", err))
	}
	hl := newHclogAdapter(logger, "raft")
	if s.snaps, err = raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, cfg.SnapshotRetain, hl.Named("snapshots")); err != nil {
		return fail(fmt.Errorf("snapshot store: %w", err))
	}
	trans = cfg.Transport
	if trans == nil {
		nt, err := newNetworkTransport(cfg, hl)
		if err != nil {
			return fail(err)
		}
		trans = nt
	}
	s.addr = string(trans.LocalAddr())
	rc := cfg.raftConfig(hl)
	if err := raft.ValidateConfig(rc); err != nil {
		return fail(fmt.Errorf("%w: %w", ErrInvalidConfig, err))
	}
	if s.raft, err = raft.NewRaft(rc, s.fsm, s.logs, s.store, s.snaps, trans); err != nil {
		return fail(fmt.Errorf("starting raft: %w", err))
	}
	s.wg.Add(1)
	go s.followLeadership()
	return s, nil
}

// Addr is the address peers reach this server's transport at.
func (s *Server) Addr() string { return s.addr }

// ID is this server's NodeID.
func (s *Server) ID() string { return s.cfg.NodeID }

// HasState reports whether this server has Raft state on disk: a log, a
// snapshot, or a bootstrap. Such a server must not be bootstrapped again.
func (s *Server) HasState() bool {
	ok, err := raft.HasExistingState(s.logs, s.store, s.snaps)
	if err != nil {
		// Unreadable state still is state: claiming none would invite a
		// second bootstrap.
		s.log.Warn("checking raft state", "err", err)
		return true
	}
	return ok
}

// Bootstrap makes peers (which must include this server) the first Raft
// configuration, all of them voters. Every server of a new cluster may call
// it with the same peers; a server with state returns
// ErrAlreadyBootstrapped.
func (s *Server) Bootstrap(peers []Peer) error {
	if err := s.checkPeers(peers); err != nil {
		return err
	}
	if s.HasState() {
		return ErrAlreadyBootstrapped
	}
	conf := raft.Configuration{}
	for _, p := range peers {
		conf.Servers = append(conf.Servers, raft.Server{
			Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr),
		})
	}
	err := s.raft.BootstrapCluster(conf).Error()
	switch {
	case errors.Is(err, raft.ErrCantBootstrap):
		return ErrAlreadyBootstrapped
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	case err != nil:
		return fmt.Errorf("bootstrap: %w", err)
	}
	return nil
}

func (s *Server) checkPeers(peers []Peer) error {
	ids, addrs := map[string]bool{}, map[string]bool{}
	self := false
	for _, p := range peers {
		if err := validateServerID(p.ID); err != nil {
			return fmt.Errorf("bootstrap peer ID: %w", err)
		}
		if _, _, err := splitPort(p.Addr); err != nil && s.cfg.Transport == nil {
			return fmt.Errorf("bootstrap peer %s address %q: %w", p.ID, p.Addr, err)
		}
		if ids[p.ID] || addrs[p.Addr] {
			return fmt.Errorf("bootstrap peers name %s or %s twice", p.ID, p.Addr)
		}
		ids[p.ID], addrs[p.Addr] = true, true
		self = self || p.ID == s.cfg.NodeID
	}
	if !self {
		return fmt.Errorf("bootstrap peers do not include this server (%s)", s.cfg.NodeID)
	}
	return nil
}

// Apply validates cmd, submits it to the log and waits until it is applied
// here, returning its result. A rejection at apply time (a compare-and-set
// on another version) is a result with Error set and a nil error.
//
// Errors: ErrInvalidCommand (nothing submitted, nothing logged); a
// *NotLeaderError (nothing submitted; ask the leader it names); ctx's error
// when ctx ends before submission; ErrUnknownOutcome when the wait ends
// after submission (retry with the same request_id).
func (s *Server) Apply(ctx context.Context, cmd *gamesav1.Command) (*gamesav1.CommandResult, error) {
	data, err := EncodeCommand(cmd)
	if err != nil {
		return nil, err
	}
	if err := s.ready(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f := s.raft.Apply(data, enqueueTimeout(ctx))
	if err := s.await(ctx, f, true); err != nil {
		return nil, err
	}
	res, ok := f.Response().(*gamesav1.CommandResult)
	if !ok {
		return nil, fmt.Errorf("%w: state machine returned %T", ErrUnknownOutcome, f.Response())
	}
	// The result is shared with the dedup table; the caller gets its own.
	return proto.Clone(res).(*gamesav1.CommandResult), nil
}

// ready fails fast on a server that cannot take writes.
func (s *Server) ready() error {
	select {
	case <-s.shutdownCh:
		return ErrShutdown
	default:
	}
	if s.raft.State() != raft.Leader {
		return s.notLeader()
	}
	return nil
}

func (s *Server) notLeader() error {
	addr, id := s.raft.LeaderWithID()
	return &NotLeaderError{LeaderID: string(id), LeaderAddr: string(addr)}
}

// enqueueTimeout is how long raft may take to accept a request into its
// queue: what is left of ctx, or unbounded without a deadline.
func enqueueTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return 0
}

// await waits for f within ctx and maps raft's errors to this package's.
// submitted tells what an error means: a log write may have happened.
func (s *Server) await(ctx context.Context, f raft.Future, submitted bool) error {
	err := waitFuture(ctx, f)
	if err == nil {
		return nil
	}
	unknown := func(cause error) error {
		if !submitted {
			return cause
		}
		return fmt.Errorf("%w: %w", ErrUnknownOutcome, cause)
	}
	switch {
	case errors.Is(err, raft.ErrEnqueueTimeout):
		// Raft never took the request.
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("raft queue full: %w", context.DeadlineExceeded)
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		// Raft refuses these before anything reaches the log.
		return s.notLeader()
	case errors.Is(err, raft.ErrLeadershipLost), errors.Is(err, raft.ErrAbortedByRestore):
		return unknown(err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return unknown(ErrShutdown)
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return unknown(err)
	default:
		return err
	}
}

// waitFuture waits for a raft future, or for ctx. Raft answers every
// future (on commit, leadership loss or shutdown), so the helper goroutine
// always ends.
func waitFuture(ctx context.Context, f raft.Future) error {
	if ctx.Done() == nil {
		return f.Error()
	}
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// State returns this replica's current state: immutable, possibly stale
// (a follower may lag or be cut off from the leader), and free to take.
func (s *Server) State() *State { return s.fsm.state.Load() }

// Changed returns a channel that is closed once this replica applies
// anything after the call: a new state to read. Take the channel before
// the state, and a change between the two is never missed:
//
//	changed := srv.Changed()
//	st := srv.State()
//	... use st ...
//	<-changed
func (s *Server) Changed() <-chan struct{} { return s.fsm.next() }

// ConsistentState returns a state that reflects every write acknowledged
// before the call (a linearizable read). Only a ready leader serves it:
// others return a *NotLeaderError.
//
// The leader proves it still leads by committing a Barrier entry submitted
// after the call began: a quorum accepting an entry of this term rules out
// a newer leader, with no assumption about clocks or message delays (raft's
// VerifyLeader can be satisfied by a heartbeat sent before the read). The
// state is taken once the Barrier is applied here. Concurrent reads share
// one Barrier, so a burst of reads costs one log entry.
func (s *Server) ConsistentState(ctx context.Context) (*State, error) {
	if _, err := s.waitReady(ctx); err != nil {
		return nil, err
	}
	if err := s.readBarrier(ctx); err != nil {
		return nil, err
	}
	return s.State(), nil
}

// readRound is one Barrier shared by the reads that joined it before it
// was submitted.
type readRound struct {
	done chan struct{}
	err  error
}

// readBarrier joins the next read round and waits for its Barrier. One
// round is in flight at a time, while the next collects readers; the
// goroutine that runs rounds ends when no reader waits.
func (s *Server) readBarrier(ctx context.Context) error {
	s.rmu.Lock()
	if s.readsClosed {
		s.rmu.Unlock()
		return ErrShutdown
	}
	if s.pendingRead == nil {
		s.pendingRead = &readRound{done: make(chan struct{})}
	}
	r := s.pendingRead
	if !s.reading {
		s.reading = true
		s.wg.Add(1)
		go s.runReads()
	}
	s.rmu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runReads submits read rounds one after another until none is waiting.
func (s *Server) runReads() {
	defer s.wg.Done()
	// A round must end even if raft stalls: its readers may have no
	// deadline of their own.
	limit := 10 * max(s.cfg.ElectionTimeout, s.cfg.HeartbeatTimeout)
	for {
		s.rmu.Lock()
		r := s.pendingRead
		s.pendingRead = nil
		if r == nil {
			s.reading = false
			s.rmu.Unlock()
			return
		}
		s.rmu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		r.err = s.await(ctx, s.raft.Barrier(limit), false)
		cancel()
		if r.err != nil && !errors.Is(r.err, ErrNotLeader) && !errors.Is(r.err, ErrShutdown) {
			// A read changes nothing, so "unknown outcome" means only
			// "not confirmed": report it as a lost leadership.
			r.err = fmt.Errorf("%w: %w", s.notLeader(), r.err)
		}
		close(r.done)
	}
}

// waitReady waits until this server is a leader whose Barrier completed,
// returning the term; it fails at once on a follower.
func (s *Server) waitReady(ctx context.Context) (uint64, error) {
	for {
		if err := s.ready(); err != nil {
			return 0, err
		}
		if term := s.readyTerm.Load(); term != 0 && term == s.raft.CurrentTerm() {
			return term, nil
		}
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-s.shutdownCh:
			t.Stop()
			return 0, ErrShutdown
		case <-t.C:
		}
	}
}

// Barrier waits until every entry in the leader's log is applied here.
func (s *Server) Barrier(ctx context.Context) error {
	if err := s.ready(); err != nil {
		return err
	}
	return s.await(ctx, s.raft.Barrier(enqueueTimeout(ctx)), true)
}

// Leader returns the leader as this server knows it, zero when unknown.
func (s *Server) Leader() Peer {
	addr, id := s.raft.LeaderWithID()
	return Peer{ID: string(id), Addr: string(addr)}
}

// IsLeader reports whether this server is the leader (its Barrier may
// still be running; LeadershipChanges reports readiness).
func (s *Server) IsLeader() bool { return s.raft.State() == raft.Leader }

// LeadershipChanges subscribes to this server's leadership: true once it
// leads and its post-election Barrier completed (it may serve and decide),
// false when it stops leading. The channel first carries the current
// value, then each change; a reader that falls behind sees only the latest
// value. Call stop to unsubscribe; the channel is closed then, or at
// Shutdown.
func (s *Server) LeadershipChanges() (<-chan bool, func()) {
	ch := make(chan bool, 1)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		close(ch)
		return ch, func() {}
	}
	s.subs[ch] = struct{}{}
	ch <- s.leading
	s.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if _, ok := s.subs[ch]; ok {
				delete(s.subs, ch)
				close(ch)
			}
		})
	}
}

// publishLocked sends v to every subscriber, replacing an unread value.
// s.mu must be held.
func (s *Server) publishLocked(v bool) {
	s.leading = v
	for ch := range s.subs {
		select {
		case <-ch:
		default:
		}
		ch <- v
	}
}

// followLeadership owns leadership bookkeeping: on winning it runs the
// Barrier (in a goroutine of its own, so a lost leadership can cancel it)
// and then announces readiness; on losing it withdraws readiness at once.
// It ends at Shutdown, after the Barrier goroutine.
func (s *Server) followLeadership() {
	defer s.wg.Done()
	var b barrierRun
	defer b.stop()
	for {
		select {
		case <-s.shutdownCh:
			return
		case leader := <-s.raft.LeaderCh():
			b.stop()
			s.mu.Lock()
			s.gen++
			gen := s.gen
			s.readyTerm.Store(0)
			if s.leading {
				s.publishLocked(false)
			}
			s.mu.Unlock()
			if !leader {
				s.log.Info("raft: not leading", "node", s.cfg.NodeID)
				continue
			}
			b.start(func(ctx context.Context) { s.establish(ctx, gen) })
		}
	}
}

// barrierRun is the one establish goroutine followLeadership may have
// running; stop cancels it and waits for it to end.
type barrierRun struct {
	cancel context.CancelFunc
	done   chan struct{}
}

func (b *barrierRun) start(run func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel, b.done = cancel, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		run(ctx)
	}(b.done)
}

func (b *barrierRun) stop() {
	if b.cancel == nil {
		return
	}
	b.cancel()
	<-b.done
	b.cancel, b.done = nil, nil
}

// establish runs the new leader's Barrier, retrying while it still leads,
// and announces readiness unless leadership changed meanwhile.
func (s *Server) establish(ctx context.Context, gen uint64) {
	term := s.raft.CurrentTerm()
	start := time.Now()
	for {
		if s.raft.State() != raft.Leader || ctx.Err() != nil {
			return
		}
		bctx, cancel := context.WithTimeout(ctx, 5*max(s.cfg.HeartbeatTimeout, time.Second))
		err := waitFuture(bctx, s.raft.Barrier(0))
		cancel()
		if err == nil {
			break
		}
		s.log.Warn("raft: barrier after election failed; retrying", "node", s.cfg.NodeID, "term", term, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen != gen || s.raft.CurrentTerm() != term || s.raft.State() != raft.Leader {
		return
	}
	s.readyTerm.Store(term)
	s.publishLocked(true)
	s.log.Info("raft: leading", "node", s.cfg.NodeID, "term", term, "barrier", time.Since(start))
}

// Configuration returns the current Raft configuration, sorted by ID.
func (s *Server) Configuration() ([]ServerInfo, error) {
	f := s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrRaftShutdown) {
			return nil, ErrShutdown
		}
		return nil, fmt.Errorf("reading raft configuration: %w", err)
	}
	var out []ServerInfo
	for _, srv := range f.Configuration().Servers {
		out = append(out, ServerInfo{ID: string(srv.ID), Addr: string(srv.Address), Voter: srv.Suffrage == raft.Voter})
	}
	slices.SortFunc(out, func(a, b ServerInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// AddNonvoter adds a server that receives the log but does not vote, or
// updates a non-voter's address. Leader only.
func (s *Server) AddNonvoter(ctx context.Context, id, addr string) error {
	if err := s.ready(); err != nil {
		return err
	}
	return s.membership(ctx, s.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, enqueueTimeout(ctx)))
}

// AddVoter adds a voting server, or promotes a non-voter. Leader only.
func (s *Server) AddVoter(ctx context.Context, id, addr string) error {
	if err := s.ready(); err != nil {
		return err
	}
	return s.membership(ctx, s.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, enqueueTimeout(ctx)))
}

// RemoveServer removes a server from the configuration. Leader only.
func (s *Server) RemoveServer(ctx context.Context, id string) error {
	if err := s.ready(); err != nil {
		return err
	}
	return s.membership(ctx, s.raft.RemoveServer(raft.ServerID(id), 0, enqueueTimeout(ctx)))
}

func (s *Server) membership(ctx context.Context, f raft.Future) error {
	if err := s.await(ctx, f, true); err != nil {
		return fmt.Errorf("changing raft configuration: %w", err)
	}
	return nil
}

// TransferLeadership hands leadership to the server with ID to, or to the
// most up-to-date voter when to is empty, and waits until it is done.
// Leader only.
func (s *Server) TransferLeadership(ctx context.Context, to string) error {
	if err := s.ready(); err != nil {
		return err
	}
	var f raft.Future
	if to == "" {
		f = s.raft.LeadershipTransfer()
	} else {
		cfg, err := s.Configuration()
		if err != nil {
			return err
		}
		i := slices.IndexFunc(cfg, func(si ServerInfo) bool { return si.ID == to })
		if i < 0 {
			return fmt.Errorf("%w: %s", ErrUnknownServer, to)
		}
		if !cfg[i].Voter {
			return fmt.Errorf("transfer leadership: %s is not a voter", to)
		}
		f = s.raft.LeadershipTransferToServer(raft.ServerID(to), raft.ServerAddress(cfg[i].Addr))
	}
	if err := s.await(ctx, f, false); err != nil {
		return fmt.Errorf("transfer leadership: %w", err)
	}
	return nil
}

// Snapshot takes a snapshot now (raft also takes them on its own, by
// SnapshotThreshold).
func (s *Server) Snapshot() error {
	err := s.raft.Snapshot().Error()
	switch {
	case errors.Is(err, raft.ErrNothingNewToSnapshot):
		return nil
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	case err != nil:
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// AppliedIndex is Stats().AppliedIndex without the rest: raft's full
// statistics go through its main loop and format a map, too much for a
// value read every tick.
func (s *Server) AppliedIndex() uint64 { return s.raft.AppliedIndex() }

// LastContact is Stats().LastContact, as cheaply: when this follower last
// heard from the leader; zero on the leader and before any contact.
func (s *Server) LastContact() time.Time {
	if s.raft.State() == raft.Leader {
		return time.Time{}
	}
	return s.raft.LastContact()
}

// CommitIndex is the index of the last entry this server knows committed:
// Stats().CommitIndex without the rest (raft formats every statistic as a
// string to give one).
func (s *Server) CommitIndex() uint64 { return s.raft.CommitIndex() }

// Stats returns this replica's counters.
func (s *Server) Stats() Stats {
	m := s.raft.Stats()
	u := func(k string) uint64 {
		v, _ := strconv.ParseUint(m[k], 10, 64) // raft formats these as decimal; absent reads as 0
		return v
	}
	term := s.raft.CurrentTerm()
	st := Stats{
		RaftState:         s.raft.State().String(),
		Term:              term,
		LastIndex:         s.raft.LastIndex(),
		CommitIndex:       s.raft.CommitIndex(),
		AppliedIndex:      s.raft.AppliedIndex(),
		StateIndex:        s.State().Index(),
		LastSnapshotIndex: u("last_snapshot_index"),
		LastSnapshotTerm:  u("last_snapshot_term"),
		Leader:            s.Leader(),
		Ready:             s.readyTerm.Load() == term && term != 0,
	}
	if st.RaftState != raft.Leader.String() {
		st.LastContact = s.raft.LastContact()
	}
	return st
}

// Shutdown stops Raft (without handing leadership over: call
// TransferLeadership first for a graceful exit), closes the transport and
// the store, and closes LeadershipChanges channels. It is safe to call more
// than once.
func (s *Server) Shutdown() error {
	s.shutdownOnce.Do(func() {
		close(s.shutdownCh)
		s.rmu.Lock()
		s.readsClosed = true // no read goroutine starts after this
		s.rmu.Unlock()
		var errs []error
		if err := s.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("stopping raft: %w", err))
		}
		s.wg.Wait()
		s.readyTerm.Store(0)
		s.mu.Lock()
		s.closed = true
		for ch := range s.subs {
			close(ch)
			delete(s.subs, ch)
		}
		s.mu.Unlock()
		if err := s.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing raft store: %w", err))
		}
		s.shutdownErr = errors.Join(errs...)
	})
	return s.shutdownErr
}
