package gossip

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

func sampleDigest() *gamesav1.Digest {
	return &gamesav1.Digest{
		Time:                   timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
		CpuUtilizationPercent:  42.5,
		MemoryUsedPercent:      61,
		MaxTemperatureCelsius:  71.5,
		ThermalHeadroomCelsius: 28.5,
		PowerWatts:             180,
		PowerCapWatts:          250,
		GpuUtilizationPercent:  97,
		GpuTemperatureCelsius:  66,
		AppClass:               "game",
		ModelVersion:           "thermal-7",
		RaftAppliedIndex:       1234,
	}
}

func TestTwoMeshesExchangeDigests(t *testing.T) {
	a := newMesh(t, testConfig(t, "a"))
	b := newMesh(t, testConfig(t, "b"))
	join(t, b, a)
	eventually(t, 10*time.Second, func() string { return memberCounts([]*Mesh{a, b}) },
		func() bool { return seesAll([]*Mesh{a, b}, 2) })

	sent := sampleDigest()
	before := proto.Clone(sent)
	if err := a.Publish(sent); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if !proto.Equal(sent, before) {
		t.Errorf("Publish modified the caller's digest: %v; want %v", sent, before)
	}
	var got Member
	eventually(t, 10*time.Second, func() string { return "b never got a's digest" }, func() bool {
		m, ok := b.View().Get("a")
		got = m
		return ok && m.Digest != nil
	})

	want := proto.Clone(sent).(*gamesav1.Digest)
	want.NodeId, want.Seq, want.Epoch = "a", 1, a.epoch
	if !proto.Equal(got.Digest, want) {
		t.Errorf("b's digest of a = %v; want %v", got.Digest, want)
	}
	if got.State != StateAlive || got.Stale {
		t.Errorf("b's view of a: state %v, stale %v; want alive, fresh", got.State, got.Stale)
	}
	if got.Meta != (Meta{ID: "a", Role: RoleClient, GRPCAddr: "127.0.0.1:7070", Version: "test"}) {
		t.Errorf("b's view of a's meta = %+v", got.Meta)
	}
	if got.Addr != a.LocalAddr() {
		t.Errorf("b's view of a's addr = %q; want %q", got.Addr, a.LocalAddr())
	}

	// The publisher's own view holds its digest too.
	self, ok := a.View().Get("a")
	if !ok || self.Digest.GetSeq() != 1 {
		t.Errorf("a's own view: %+v, %v; want its digest, seq 1", self, ok)
	}
	// A view is the caller's: changing it changes nothing in the mesh.
	got.Digest.AppClass = "changed"
	if m, _ := b.View().Get("a"); m.Digest.GetAppClass() != "game" {
		t.Errorf("after changing a returned digest, the view has app class %q; want game", m.Digest.GetAppClass())
	}
	// A shared view holds the same members and digests, uncopied.
	shared, full := b.SharedView(), b.View()
	if len(shared.Members) != len(full.Members) {
		t.Fatalf("SharedView has %d members, View %d", len(shared.Members), len(full.Members))
	}
	for i, m := range shared.Members {
		if m.Meta != full.Members[i].Meta || !proto.Equal(m.Digest, full.Members[i].Digest) {
			t.Errorf("SharedView member %d = %+v; View has %+v", i, m, full.Members[i])
		}
	}
	if s1, s2 := b.SharedView(), b.SharedView(); len(s1.Members) > 0 && s1.Members[0].Digest != s2.Members[0].Digest {
		t.Error("SharedView copied the digests")
	}

	// The next digest replaces the first.
	if err := a.Publish(&gamesav1.Digest{CpuUtilizationPercent: 7}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	eventually(t, 10*time.Second, func() string { return "b never got seq 2" }, func() bool {
		m, _ := b.View().Get("a")
		return m.Digest.GetSeq() == 2 && m.Digest.GetCpuUtilizationPercent() == 7
	})
	if st := a.Stats(); st.Published != 2 || st.Members != 2 {
		t.Errorf("a.Stats() = %+v; want Published 2, Members 2", st)
	}
	if st := b.Stats(); st.Accepted < 2 || st.Rebroadcast < 2 {
		t.Errorf("b.Stats() = %+v; want Accepted and Rebroadcast at least 2", st)
	}
}

func TestWrongKeyIsRefused(t *testing.T) {
	key, _ := GenerateKey()
	other, _ := GenerateKey()
	for _, tc := range []struct {
		name                string
		clusterKey, joinKey []byte
	}{
		{"wrong key", key, other},
		{"no key", key, nil},
		{"key for an open cluster", nil, key},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seedLog, inLog syncBuffer
			cfg := testConfig(t, "seed")
			cfg.SecretKey = tc.clusterKey
			cfg.Logger = slog.New(slog.NewTextHandler(&seedLog, nil))
			seed := newMesh(t, cfg)
			cfg = testConfig(t, "friend")
			cfg.SecretKey = tc.clusterKey
			friend := newMesh(t, cfg)
			join(t, friend, seed)

			cfg = testConfig(t, "intruder")
			cfg.SecretKey = tc.joinKey
			cfg.Logger = slog.New(slog.NewTextHandler(&inLog, nil))
			in := newMesh(t, cfg)
			n, err := in.Join(context.Background(), []string{seed.LocalAddr()})
			if n != 0 || !errors.Is(err, ErrJoin) {
				t.Errorf("Join = %d, %v; want 0, ErrJoin", n, err)
			}
			if !strings.Contains(inLog.String(), "gossip: join refused: wrong encryption key?") {
				t.Errorf("intruder's log lacks the refusal line:\n%s", inLog.String())
			}
			eventually(t, 10*time.Second, func() string {
				return "the seed never counted a key error; its log:\n" + seedLog.String()
			}, func() bool { return seed.Stats().KeyErrors > 0 })

			// The seed counted the refusal after rejecting the intruder's
			// join sync, the only way it could have learnt of it.
			for _, m := range []*Mesh{seed, friend} {
				if _, ok := m.View().Get("intruder"); ok {
					t.Errorf("%s's view has the intruder", m.self)
				}
			}
			if v := in.View(); len(v.Members) != 1 || in.Stats().Members != 1 {
				t.Errorf("intruder sees %d members (%d alive); want only itself", len(v.Members), in.Stats().Members)
			}
		})
	}
}

func TestPublishStamps(t *testing.T) {
	clock := newFakeClock()
	cfg := testConfig(t, "a")
	cfg.Now = clock.Now
	a := newMesh(t, cfg)

	if err := a.Publish(&gamesav1.Digest{NodeId: "spoofed", Seq: 99, Epoch: 7}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	self, _ := a.View().Get("a")
	d := self.Digest
	if d.GetNodeId() != "a" || d.GetSeq() != 1 || d.GetEpoch() != uint64(clock.Now().UnixNano()) {
		t.Errorf("stamped digest: node %q seq %d epoch %d; want a, 1, %d",
			d.GetNodeId(), d.GetSeq(), d.GetEpoch(), clock.Now().UnixNano())
	}
	if !d.GetTime().AsTime().Equal(clock.Now()) {
		t.Errorf("digest time = %v; want the clock's %v", d.GetTime().AsTime(), clock.Now())
	}

	huge := &gamesav1.Digest{AppClass: strings.Repeat("x", MaxDigestBytes)}
	if err := a.Publish(huge); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Publish(%d-byte app class) = %v; want ErrTooLarge", len(huge.AppClass), err)
	}
	if err := a.Publish(nil); err == nil {
		t.Errorf("Publish(nil) = nil; want an error")
	}
	if err := a.Publish(&gamesav1.Digest{}); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if self, _ := a.View().Get("a"); self.Digest.GetSeq() != 2 {
		t.Errorf("seq after a refused publish = %d; want 2 (refusals use no seq)", self.Digest.GetSeq())
	}
	if got := a.Stats().Published; got != 2 {
		t.Errorf("Stats().Published = %d; want 2", got)
	}
}

func TestDigestAgeAndStaleness(t *testing.T) {
	clock := newFakeClock()
	cfg := testConfig(t, "a")
	cfg.Now = clock.Now
	cfg.StaleAfter = 10 * time.Second
	a := newMesh(t, cfg)
	cfg = testConfig(t, "b")
	cfg.Now = clock.Now
	b := newMesh(t, cfg)
	join(t, b, a)

	if m, _ := a.View().Get("b"); m.Digest != nil || !m.Stale || m.DigestAge != 0 {
		t.Errorf("before any digest: %+v; want no digest, stale, age 0", m)
	}
	received := clock.Now()
	if err := b.Publish(sampleDigest()); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	eventually(t, 10*time.Second, func() string { return "a never got b's digest" }, func() bool {
		m, _ := a.View().Get("b")
		return m.Digest != nil
	})
	for _, tc := range []struct {
		advance   time.Duration
		wantAge   time.Duration
		wantStale bool
	}{
		{0, 0, false},
		{4 * time.Second, 4 * time.Second, false},
		{6 * time.Second, 10 * time.Second, false}, // exactly StaleAfter: still fresh
		{time.Nanosecond, 10*time.Second + time.Nanosecond, true},
		{time.Hour, time.Hour + 10*time.Second + time.Nanosecond, true},
	} {
		clock.Advance(tc.advance)
		v := a.View()
		m, _ := v.Get("b")
		if m.DigestAge != tc.wantAge || m.Stale != tc.wantStale || !m.DigestReceived.Equal(received) {
			t.Errorf("at +%v: age %v, stale %v, received %v; want %v, %v, %v",
				v.Time.Sub(received), m.DigestAge, m.Stale, m.DigestReceived, tc.wantAge, tc.wantStale, received)
		}
		if !v.Time.Equal(clock.Now()) {
			t.Errorf("view time = %v; want the clock's %v", v.Time, clock.Now())
		}
	}
}

func TestUpdateMeta(t *testing.T) {
	a := newMesh(t, testConfig(t, "a"))
	b := newMesh(t, testConfig(t, "b"))
	events, cancel := b.Subscribe(16)
	defer cancel()
	join(t, b, a)

	meta := Meta{Role: RoleServer, GRPCAddr: "127.0.0.1:7071", RaftAddr: "127.0.0.1:7947", Version: "v2", BootstrapExpect: 3}
	ctx, cancelCtx := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelCtx()
	if err := a.UpdateMeta(ctx, meta); err != nil {
		t.Fatalf("UpdateMeta: %v", err)
	}
	want := meta
	want.ID = "a"
	if m, _ := a.View().Get("a"); m.Meta != want {
		t.Errorf("a's own meta = %+v; want %+v", m.Meta, want)
	}
	deadline := time.After(10 * time.Second)
	for found := false; !found; {
		select {
		case ev := <-events:
			found = ev.Kind == EventUpdate && ev.Member.Meta.ID == "a"
			if found && ev.Member.Meta != want {
				t.Errorf("update event meta = %+v; want %+v", ev.Member.Meta, want)
			}
		case <-deadline:
			t.Fatalf("b never got an update event for a")
		}
	}
	if m, _ := b.View().Get("a"); m.Meta != want {
		t.Errorf("b's view of a's meta = %+v; want %+v", m.Meta, want)
	}

	for _, tc := range []struct {
		name string
		meta Meta
		want error
	}{
		{"too large", Meta{Version: strings.Repeat("v", MaxMetaBytes)}, ErrTooLarge},
		{"another id", Meta{ID: "b"}, nil},
		{"negative bootstrap", Meta{BootstrapExpect: -1}, nil},
	} {
		err := a.UpdateMeta(ctx, tc.meta)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("UpdateMeta(%s) = %v; want an error (%v)", tc.name, err, tc.want)
		}
	}
	if m, _ := a.View().Get("a"); m.Meta != want {
		t.Errorf("after refused updates, meta = %+v; want %+v unchanged", m.Meta, want)
	}
}

// recvEvent waits for an event of the given kind about member id, skipping
// others.
func recvEvent(t *testing.T, ch <-chan Event, kind EventKind, id string) Event {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("event channel closed while waiting for %v of %s", kind, id)
			}
			if ev.Kind == kind && ev.Member.Meta.ID == id {
				return ev
			}
		case <-deadline:
			t.Fatalf("no %v event for %s", kind, id)
		}
	}
}

func TestLeaveAndFailEvents(t *testing.T) {
	clock := newFakeClock()
	cfg := testConfig(t, "a")
	cfg.Now = clock.Now
	cfg.ForgetAfter = time.Hour
	a := newMesh(t, cfg)
	events, cancel := a.Subscribe(64)
	defer cancel()
	b := newMesh(t, testConfig(t, "b"))
	c := newMesh(t, testConfig(t, "c"))
	join(t, b, a)
	join(t, c, a)
	for _, id := range []string{"b", "c"} {
		ev := recvEvent(t, events, EventJoin, id)
		if ev.Member.State != StateAlive || !ev.Member.StateSince.Equal(clock.Now()) {
			t.Errorf("join event of %s: state %v since %v; want alive since %v",
				id, ev.Member.State, ev.Member.StateSince, clock.Now())
		}
	}

	// c says goodbye: left, not failed.
	ctx, cancelCtx := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelCtx()
	if err := c.Leave(ctx); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if ev := recvEvent(t, events, EventLeave, "c"); ev.Member.State != StateLeft {
		t.Errorf("leave event state = %v; want left", ev.Member.State)
	}
	if got := stateOf(a, "c"); got != StateLeft {
		t.Errorf("a's view of c = %v; want left", got)
	}

	// b vanishes: failure detection marks it failed.
	if err := b.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if ev := recvEvent(t, events, EventFail, "b"); ev.Member.State != StateFailed {
		t.Errorf("fail event state = %v; want failed", ev.Member.State)
	}
	v := a.View()
	if got := len(v.Alive()); got != 1 {
		t.Errorf("alive members = %d; want 1 (a)", got)
	}
	if got := stateOf(a, "b"); got != StateFailed {
		t.Errorf("a's view of b = %v; want failed", got)
	}

	// Gone members stay in the view for ForgetAfter, then go.
	clock.Advance(time.Hour)
	if len(a.View().Members) != 3 {
		t.Errorf("at exactly ForgetAfter the view has %d members; want 3", len(a.View().Members))
	}
	clock.Advance(time.Second)
	if v := a.View(); len(v.Members) != 1 || v.Members[0].Meta.ID != "a" {
		t.Errorf("after ForgetAfter the view is %+v; want only a", v.Members)
	}
}

// peerDigest encodes a digest as peer id would gossip it.
func peerDigest(t *testing.T, id string, epoch, seq uint64) []byte {
	t.Helper()
	d := sampleDigest()
	d.NodeId, d.Epoch, d.Seq = id, epoch, seq
	raw, err := encodeDigest(d)
	if err != nil {
		t.Fatalf("encodeDigest: %v", err)
	}
	return raw
}

func TestReceivedDigestsAreCheckedAndCounted(t *testing.T) {
	a := newMesh(t, testConfig(t, "a"))
	b := newMesh(t, testConfig(t, "b"))
	join(t, b, a)
	dl := &delegate{a}
	oversized := append([]byte{wireVersion, kindDigest}, make([]byte, MaxDigestBytes)...)

	type counts struct{ accepted, rebroadcast, stale, unknown, oversized, malformed uint64 }
	for _, tc := range []struct {
		name    string
		msg     []byte
		want    counts // increments
		wantSeq uint64 // a's digest of b afterwards
	}{
		{"first copy", peerDigest(t, "b", 10, 5), counts{accepted: 1, rebroadcast: 1}, 5},
		{"second copy", peerDigest(t, "b", 10, 5), counts{stale: 1}, 5},
		{"older seq", peerDigest(t, "b", 10, 4), counts{stale: 1}, 5},
		{"newer seq", peerDigest(t, "b", 10, 6), counts{accepted: 1, rebroadcast: 1}, 6},
		{"older run", peerDigest(t, "b", 9, 100), counts{stale: 1}, 6},
		{"newer run, seq from 1", peerDigest(t, "b", 11, 1), counts{accepted: 1, rebroadcast: 1}, 1},
		{"own digest", peerDigest(t, "a", 99, 99), counts{stale: 1}, 1},
		{"unknown node", peerDigest(t, "zed", 1, 1), counts{unknown: 1}, 1},
		{"oversized", oversized, counts{oversized: 1}, 1},
		{"empty", nil, counts{malformed: 1}, 1},
		{"garbage", []byte{1, 1, 0xff, 0xff, 0xff}, counts{malformed: 1}, 1},
		{"wrong kind", append([]byte{wireVersion, kindMeta}, peerDigest(t, "b", 11, 2)[2:]...), counts{malformed: 1}, 1},
		{"future version", append([]byte{wireVersion + 1, kindDigest}, peerDigest(t, "b", 11, 2)[2:]...), counts{malformed: 1}, 1},
		{"seq 0", peerDigest(t, "b", 11, 0), counts{malformed: 1}, 1},
	} {
		before := a.Stats()
		dl.NotifyMsg(tc.msg)
		after := a.Stats()
		got := counts{
			after.Accepted - before.Accepted, after.Rebroadcast - before.Rebroadcast,
			after.DroppedStale - before.DroppedStale, after.DroppedUnknown - before.DroppedUnknown,
			after.DroppedOversized - before.DroppedOversized, after.DroppedMalformed - before.DroppedMalformed,
		}
		if got != tc.want {
			t.Errorf("NotifyMsg(%s): counts +%+v; want +%+v", tc.name, got, tc.want)
		}
		if m, _ := a.View().Get("b"); m.Digest.GetSeq() != tc.wantSeq {
			t.Errorf("after %s, a holds b's seq %d; want %d", tc.name, m.Digest.GetSeq(), tc.wantSeq)
		}
	}
	if _, ok := a.View().Get("zed"); ok {
		t.Errorf("a digest from an unknown node added it to the view")
	}
	if st := a.Stats(); st.Received != st.Accepted+st.DroppedStale+st.DroppedUnknown {
		t.Errorf("Stats() = %+v: received is not accepted + stale + unknown", st)
	}
}

func TestNotifyMsgCopiesItsBuffer(t *testing.T) {
	a := newMesh(t, testConfig(t, "a"))
	b := newMesh(t, testConfig(t, "b"))
	join(t, b, a)
	buf := peerDigest(t, "b", 1, 1)
	(&delegate{a}).NotifyMsg(buf)
	for i := range buf {
		buf[i] = 0 // memberlist reuses its buffer
	}
	got := a.queue.GetBroadcasts(0, 1400)
	if len(got) != 1 {
		t.Fatalf("queued broadcasts = %d; want 1", len(got))
	}
	if d, err := decodeDigest(got[0]); err != nil || d.GetNodeId() != "b" {
		t.Errorf("the queued re-gossip decodes to %v, %v; want b's digest", d, err)
	}
	if m, _ := a.View().Get("b"); m.Digest.GetAppClass() != "game" {
		t.Errorf("the held digest changed with the buffer: %v", m.Digest)
	}
}

func TestPushPullCarriesDigests(t *testing.T) {
	a := newMesh(t, testConfig(t, "a"))
	if err := a.Publish(sampleDigest()); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	b := newMesh(t, testConfig(t, "b"))
	// Join is a push-pull with a: when it returns, b has merged a's state,
	// a's digest included, before any broadcast could arrive.
	join(t, b, a)
	m, _ := b.View().Get("a")
	if m.Digest.GetSeq() != 1 {
		t.Fatalf("right after joining, b holds a's digest %v; want seq 1", m.Digest)
	}
	if st := b.Stats(); st.Accepted != 1 || st.Rebroadcast != 0 {
		t.Errorf("b.Stats() = %+v; want Accepted 1, Rebroadcast 0 (state is not re-gossiped)", st)
	}
	// And the other way: a merged b's state, which has no digest yet.
	if m, _ := a.View().Get("b"); m.Digest != nil {
		t.Errorf("a holds a digest of b %v; b published none", m.Digest)
	}
}

func TestMergeRemoteStateChecks(t *testing.T) {
	a := newMesh(t, testConfig(t, "a"))
	b := newMesh(t, testConfig(t, "b"))
	join(t, b, a)
	dl := &delegate{a}

	good := sampleDigest()
	good.NodeId, good.Epoch, good.Seq = "b", 1, 3
	noID := sampleDigest()
	noID.Epoch, noID.Seq = 1, 1
	unknown := proto.Clone(good).(*gamesav1.Digest)
	unknown.NodeId = "zed"
	state, err := encodeState([]*gamesav1.Digest{good, noID, unknown})
	if err != nil {
		t.Fatalf("encodeState: %v", err)
	}
	before := a.Stats()
	dl.MergeRemoteState(state, false)
	after := a.Stats()
	if got := after.Accepted - before.Accepted; got != 1 {
		t.Errorf("accepted +%d; want +1", got)
	}
	if got := after.DroppedMalformed - before.DroppedMalformed; got != 1 {
		t.Errorf("malformed +%d; want +1 (the digest without a node id)", got)
	}
	if got := after.DroppedUnknown - before.DroppedUnknown; got != 1 {
		t.Errorf("unknown +%d; want +1", got)
	}
	if got := after.Rebroadcast - before.Rebroadcast; got != 0 {
		t.Errorf("rebroadcast +%d; want 0", got)
	}
	if m, _ := a.View().Get("b"); m.Digest.GetSeq() != 3 {
		t.Errorf("a holds b's seq %d; want 3", m.Digest.GetSeq())
	}
	before = a.Stats()
	dl.MergeRemoteState([]byte("not a state"), false)
	dl.MergeRemoteState(append([]byte{wireVersion, kindState}, make([]byte, MaxStateBytes)...), true)
	after = a.Stats()
	if after.DroppedMalformed-before.DroppedMalformed != 1 || after.DroppedOversized-before.DroppedOversized != 1 {
		t.Errorf("bad states: malformed +%d, oversized +%d; want +1 each",
			after.DroppedMalformed-before.DroppedMalformed, after.DroppedOversized-before.DroppedOversized)
	}
}

func TestSubscribe(t *testing.T) {
	a := newMesh(t, testConfig(t, "a"))
	slow, cancelSlow := a.Subscribe(1)
	fast, cancelFast := a.Subscribe(16)
	for _, id := range []string{"b", "c", "d"} {
		join(t, newMesh(t, testConfig(t, id)), a)
	}
	for _, id := range []string{"b", "c", "d"} {
		recvEvent(t, fast, EventJoin, id)
	}
	if got := a.Stats().EventsDropped; got < 2 {
		t.Errorf("EventsDropped = %d; want at least 2 (3 joins, a buffer of 1, never read)", got)
	}
	if ev := <-slow; ev.Kind != EventJoin || ev.Member.Meta.ID != "b" {
		t.Errorf("the slow subscriber's one event = %v %s; want the first join, b", ev.Kind, ev.Member.Meta.ID)
	}
	cancelSlow()
	cancelSlow() // idempotent
	if _, ok := <-slow; ok {
		t.Errorf("the channel is open after cancel")
	}
	if err := a.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for range fast {
		// Drain: Shutdown closes the channel, ending this loop.
	}
	cancelFast() // after Shutdown: a no-op
	if ch, cancel := a.Subscribe(1); true {
		if _, ok := <-ch; ok {
			t.Errorf("a subscription after Shutdown is open")
		}
		cancel()
	}
}

func TestLifecycleErrors(t *testing.T) {
	a := newMesh(t, testConfig(t, "a"))
	ctx := context.Background()

	if n, err := a.Join(ctx, nil); n != 0 || err != nil {
		t.Errorf("Join(nil) = %d, %v; want 0, nil", n, err)
	}
	closed := newMesh(t, testConfig(t, "closed"))
	addr := closed.LocalAddr()
	if err := closed.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n, err := a.Join(ctx, []string{addr}); n != 0 || !errors.Is(err, ErrJoin) {
		t.Errorf("Join(a closed peer) = %d, %v; want 0, ErrJoin", n, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if n, err := a.Join(cancelled, []string{addr}); n != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("Join(cancelled ctx) = %d, %v; want 0, context.Canceled", n, err)
	}
	if err := a.Leave(cancelled); !errors.Is(err, context.Canceled) {
		t.Errorf("Leave(cancelled ctx) = %v; want context.Canceled", err)
	}

	if err := a.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := a.Shutdown(); err != nil {
		t.Errorf("second Shutdown = %v; want nil", err)
	}
	if _, err := a.Join(ctx, []string{addr}); !errors.Is(err, ErrShutdown) {
		t.Errorf("Join after Shutdown = %v; want ErrShutdown", err)
	}
	if err := a.Publish(sampleDigest()); !errors.Is(err, ErrShutdown) {
		t.Errorf("Publish after Shutdown = %v; want ErrShutdown", err)
	}
	if err := a.UpdateMeta(ctx, Meta{}); !errors.Is(err, ErrShutdown) {
		t.Errorf("UpdateMeta after Shutdown = %v; want ErrShutdown", err)
	}
	if err := a.Leave(ctx); !errors.Is(err, ErrShutdown) {
		t.Errorf("Leave after Shutdown = %v; want ErrShutdown", err)
	}
	if _, err := New(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("New(Config{}) = %v; want ErrInvalidConfig", err)
	}
}

func TestNewFailsOnABusyPort(t *testing.T) {
	a := newMesh(t, testConfig(t, "a"))
	cfg := testConfig(t, "b")
	_, port, _ := strings.Cut(a.LocalAddr(), ":")
	cfg.BindPort = atoi(t, port)
	if m, err := New(cfg); err == nil {
		_ = m.Shutdown() // best effort: the test has failed
		t.Fatalf("New on %s's port = nil error; want one", a.LocalAddr())
	}
}

// TestBroadcastQueueKeepsEveryDigest replays the sequence of
// hashicorp/memberlist#263: a digest replacing the only one queued, then
// more digests of the same length. Every node's latest digest must still be
// sent.
func TestBroadcastQueueKeepsEveryDigest(t *testing.T) {
	a := newMesh(t, testConfig(t, "a"))
	msg := func(node string, seq byte) *digestBroadcast {
		return &digestBroadcast{node: node, msg: []byte{wireVersion, kindDigest, node[0], seq}}
	}
	a.queue.QueueBroadcast(msg("a", 1))
	a.queue.QueueBroadcast(msg("a", 2)) // replaces the only queued broadcast
	for _, n := range []string{"b", "c", "d", "e"} {
		a.queue.QueueBroadcast(msg(n, 1))
	}
	if got := a.Stats().QueuedBroadcasts; got != 5 {
		t.Errorf("QueuedBroadcasts = %d; want 5", got)
	}
	got := map[string]byte{}
	for _, b := range a.queue.GetBroadcasts(0, 1400) {
		got[string(b[2])] = b[3]
	}
	want := map[string]byte{"a": 2, "b": 1, "c": 1, "d": 1, "e": 1}
	if len(got) != len(want) {
		t.Fatalf("sent %v; want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("sent %v; want %v", got, want)
			break
		}
	}
}
