package gossip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// newCluster starts n meshes on loopback, joins them all through the first
// and waits until every one sees all n. The test's cleanup shuts them down.
func newCluster(t testing.TB, n int, mod func(*Config)) []*Mesh {
	t.Helper()
	ms := make([]*Mesh, n)
	for i := range n {
		cfg := testConfig(t, fmt.Sprintf("n%03d", i))
		if mod != nil {
			mod(&cfg)
		}
		ms[i] = newMesh(t, cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	seed := []string{ms[0].LocalAddr()}
	for _, m := range ms[1:] {
		if _, err := m.Join(ctx, seed); err != nil {
			t.Fatalf("%s.Join: %v", m.self, err)
		}
	}
	// A member that missed the gossip about another would learn of it at
	// its next push-pull, up to a minute away with DefaultTiming at 50
	// members; joining the seed again is a push-pull now.
	for last := time.Now(); !seesAll(ms, n); time.Sleep(10 * time.Millisecond) {
		if ctx.Err() != nil {
			t.Fatalf("after 90 s, members seen: %s", memberCounts(ms))
		}
		if time.Since(last) < 2*time.Second {
			continue
		}
		last = time.Now()
		for _, m := range ms[1:] {
			if m.ml.NumMembers() != n {
				if _, err := m.Join(ctx, seed); err != nil {
					t.Logf("%s rejoining the seed: %v", m.self, err)
				}
			}
		}
	}
	return ms
}

// TestCluster50 is the test: 50 in-process members with
// encryption on. A digest from one reaches all; a node with the wrong key
// is refused; a member that dies is marked failed by all, and one that
// leaves is marked left.
func TestCluster50(t *testing.T) {
	if testing.Short() {
		t.Skip("50 members: not in -short")
	}
	const n = 50
	key, err := GenerateKey()
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	start := time.Now()
	ms := newCluster(t, n, func(c *Config) { c.SecretKey = key })
	t.Logf("%d members converged in %v", n, time.Since(start))

	t.Run("digest reaches all", func(t *testing.T) {
		src := ms[17]
		d := sampleDigest()
		if err := src.Publish(d); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		start := time.Now()
		for _, m := range ms {
			eventually(t, 30*time.Second, func() string { return m.self + " never got " + src.self + "'s digest" },
				func() bool {
					mem, _ := m.View().Get(src.self)
					return mem.Digest.GetSeq() == 1 && mem.Digest.GetAppClass() == d.GetAppClass()
				})
		}
		t.Logf("digest seen by all %d in %v", n, time.Since(start))
		// Each receiver takes the digest once, and re-gossips it then
		// unless that first copy came by push-pull.
		var accepted, rebroadcast uint64
		for _, m := range ms {
			st := m.Stats()
			accepted += st.Accepted
			rebroadcast += st.Rebroadcast
		}
		if accepted != n-1 || rebroadcast == 0 || rebroadcast > accepted {
			t.Errorf("over the cluster: accepted %d, re-gossiped %d; want %d, and 1..%d", accepted, rebroadcast, n-1, n-1)
		}
	})

	t.Run("wrong key refused", func(t *testing.T) {
		other, _ := GenerateKey()
		var log syncBuffer
		cfg := testConfig(t, "intruder")
		cfg.SecretKey = other
		cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))
		in := newMesh(t, cfg)
		addrs := []string{ms[0].LocalAddr(), ms[25].LocalAddr()}
		if k, err := in.Join(context.Background(), addrs); k != 0 || !errors.Is(err, ErrJoin) {
			t.Errorf("Join = %d, %v; want 0, ErrJoin", k, err)
		}
		if !strings.Contains(log.String(), "join refused: wrong encryption key?") {
			t.Errorf("the intruder's log lacks the refusal:\n%s", log.String())
		}
		for _, m := range ms {
			if _, ok := m.View().Get("intruder"); ok {
				t.Errorf("%s has the intruder in its view", m.self)
			}
		}
		if got := in.Stats().Members; got != 1 {
			t.Errorf("the intruder counts %d members; want 1", got)
		}
	})

	t.Run("dead member marked failed, leaver left", func(t *testing.T) {
		dead, leaver := ms[33], ms[44]
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := leaver.Leave(ctx); err != nil {
			t.Fatalf("Leave: %v", err)
		}
		if err := dead.Shutdown(); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		start := time.Now()
		left := 0
		for _, m := range ms {
			if m == dead || m == leaver {
				continue
			}
			eventually(t, 60*time.Second, func() string {
				return fmt.Sprintf("%s sees %s %v and %s %v; want failed, and left (or failed)",
					m.self, dead.self, stateOf(m, dead.self), leaver.self, stateOf(m, leaver.self))
			}, func() bool {
				l := stateOf(m, leaver.self)
				return stateOf(m, dead.self) == StateFailed && (l == StateLeft || l == StateFailed)
			})
			if stateOf(m, leaver.self) == StateLeft {
				left++
			}
		}
		// memberlist reports a leave like a failure (hashicorp/memberlist#293):
		// only members that got the leaving flag first say "left". On a
		// loaded machine a few may miss it; most must not.
		if others := len(ms) - 2; left*10 < others*9 {
			t.Errorf("%d of %d members saw the leaver as left; want at least 90%%", left, others)
		}
		t.Logf("failure seen by all in %v; %d of %d saw the leave as a leave", time.Since(start), left, len(ms)-2)
	})
}

func TestDigestFromSuccessiveTicks(t *testing.T) {
	// Ten members, every one publishing a few ticks: each ends up holding
	// every member's last digest.
	ms := newCluster(t, 10, nil)
	const ticks = 5
	for tick := 1; tick <= ticks; tick++ {
		for _, m := range ms {
			if err := m.Publish(&gamesav1.Digest{CpuUtilizationPercent: float64(tick)}); err != nil {
				t.Fatalf("Publish: %v", err)
			}
		}
	}
	for _, m := range ms {
		eventually(t, 30*time.Second, func() string { return m.self + " lacks someone's last digest" }, func() bool {
			v := m.View()
			for _, mem := range v.Members {
				if mem.Digest.GetSeq() != ticks || mem.Digest.GetCpuUtilizationPercent() != ticks {
					return false
				}
			}
			return len(v.Members) == len(ms)
		})
	}
	// The broadcasts, not the push-pull backstop, must have carried nearly
	// all of them: when memberlist's queue lost digests
	// (TestBroadcastQueueKeepsEveryDigest), half came by push-pull.
	var accepted, rebroadcast uint64
	for _, m := range ms {
		st := m.Stats()
		accepted += st.Accepted
		rebroadcast += st.Rebroadcast
	}
	if rebroadcast*10 < accepted*9 {
		t.Errorf("%d of %d digests came by broadcast; want at least 90%%", rebroadcast, accepted)
	}
}
