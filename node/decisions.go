package node

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// The decision history keeps what the policy decided beside the telemetry
// history: one record when a decision differs from the previous one in
// anything but its time and measurements, and a heartbeat once a minute
// so a steady plan still shows on a timeline. Old records go first when
// the file holds maxDecisions or they are older than decisionMaxAge.
const (
	decisionHeartbeat = time.Minute
	maxDecisions      = 50_000
	decisionMaxAge    = 7 * 24 * time.Hour
	// decisionRing is how many recent decisions stay in memory: the last
	// minutes of a changing plan answer without reading the file.
	decisionRing = 256
)

var decisionsBucket = []byte("decisions")

// decisionLog records decisions in a bbolt file and answers ranges of
// them. The loop appends; gRPC and the dashboard read. A nil file (no
// disk history) keeps the in-memory ring only.
type decisionLog struct {
	db *bolt.DB

	mu      sync.Mutex
	ring    []*gamesav1.Decision // oldest first, at most decisionRing
	last    *gamesav1.Decision   // the latest decision, recorded or not
	lastKey []byte               // the fingerprint of the latest recorded one
	lastAt  time.Time
	count   int
}

// openDecisionLog opens (or creates) path. A file that is not a decision
// log is moved aside, as the telemetry history is, and a fresh one begun.
func openDecisionLog(path string) (*decisionLog, error) {
	if path == "" {
		return &decisionLog{}, nil
	}
	db, err := openDecisionDB(path)
	if err != nil {
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("decision history %s: %w", path, err)
		}
		if db, err = openDecisionDB(path); err != nil {
			return nil, fmt.Errorf("decision history %s: %w", path, err)
		}
	}
	l := &decisionLog{db: db}
	if err := db.View(func(tx *bolt.Tx) error {
		l.count = tx.Bucket(decisionsBucket).Stats().KeyN
		return nil
	}); err != nil {
		db.Close()
		return nil, err
	}
	return l, nil
}

func openDecisionDB(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(decisionsBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func (l *decisionLog) close() error {
	if l.db == nil {
		return nil
	}
	return l.db.Close()
}

// latest returns the newest decision, nil before the first.
func (l *decisionLog) latest() *gamesav1.Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

// add offers one tick's decision; it is recorded when it says something
// new or the heartbeat is due. d must not be modified afterwards.
func (l *decisionLog) add(d *gamesav1.Decision) error {
	at := d.GetTime().AsTime()
	key := decisionFingerprint(d)
	l.mu.Lock()
	l.last = d
	record := !bytes.Equal(key, l.lastKey) || at.Sub(l.lastAt) >= decisionHeartbeat || at.Before(l.lastAt)
	if record {
		l.lastKey, l.lastAt = key, at
		if len(l.ring) == decisionRing {
			copy(l.ring, l.ring[1:])
			l.ring = l.ring[:decisionRing-1]
		}
		l.ring = append(l.ring, d)
	}
	l.mu.Unlock()
	if !record || l.db == nil {
		return nil
	}
	return l.write(at, d)
}

func (l *decisionLog) write(at time.Time, d *gamesav1.Decision) error {
	b, err := proto.Marshal(d)
	if err != nil {
		return err
	}
	return l.db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket(decisionsBucket)
		k := decisionKey(at)
		// Two decisions in one nanosecond (a clock step back) keep both.
		for bk.Get(k) != nil {
			binary.BigEndian.PutUint64(k, binary.BigEndian.Uint64(k)+1)
		}
		if err := bk.Put(k, b); err != nil {
			return err
		}
		l.count++
		return l.trim(bk, at)
	})
}

// trim drops the oldest records beyond maxDecisions or decisionMaxAge.
func (l *decisionLog) trim(bk *bolt.Bucket, now time.Time) error {
	cutoff := decisionKey(now.Add(-decisionMaxAge))
	c := bk.Cursor()
	for k, _ := c.First(); k != nil && (l.count > maxDecisions || bytes.Compare(k, cutoff) < 0); k, _ = c.First() {
		if err := bk.Delete(k); err != nil {
			return err
		}
		l.count--
	}
	return nil
}

// between returns the recorded decisions with from <= time <= to, oldest
// first, at most limit (> 0) of them, and whether the range held more.
// Records that do not decode are skipped.
func (l *decisionLog) between(from, to time.Time, limit int) ([]*gamesav1.Decision, bool, error) {
	l.mu.Lock()
	if len(l.ring) > 0 && !l.ring[0].GetTime().AsTime().After(from) || l.db == nil {
		out, more := rangeOf(l.ring, from, to, limit)
		l.mu.Unlock()
		return out, more, nil
	}
	l.mu.Unlock()
	var out []*gamesav1.Decision
	more := false
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(decisionsBucket).Cursor()
		end := decisionKey(to)
		for k, v := c.Seek(decisionKey(from)); k != nil && bytes.Compare(k, end) <= 0; k, v = c.Next() {
			if len(out) == limit {
				more = true
				return nil
			}
			d := &gamesav1.Decision{}
			if proto.Unmarshal(v, d) != nil {
				continue
			}
			out = append(out, d)
		}
		return nil
	})
	return out, more, err
}

func rangeOf(ds []*gamesav1.Decision, from, to time.Time, limit int) ([]*gamesav1.Decision, bool) {
	var out []*gamesav1.Decision
	for _, d := range ds {
		t := d.GetTime().AsTime()
		if t.Before(from) || t.After(to) {
			continue
		}
		if len(out) == limit {
			return out, true
		}
		out = append(out, d)
	}
	return out, false
}

// decisionKey orders records by time: big-endian nanoseconds since 1970,
// shifted so times before it sort first too.
func decisionKey(t time.Time) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, uint64(t.UnixNano())^1<<63)
	return k
}

// decisionFingerprint is what a decision decided: its settings, held
// changes, releases, mode, scenario and foreground, without its time, the
// measurements and the reasons that quote them, and the list of apps. Two
// decisions with one fingerprint decided the same.
func decisionFingerprint(d *gamesav1.Decision) []byte {
	c := proto.CloneOf(d)
	c.Time = nil
	if c.Cap != nil {
		c.Cap.MeasuredWatts = 0
	}
	// The apps come and go with every shell and helper started; what
	// the decision made of them shows in the scenario, the foreground
	// and the actions.
	c.Apps = nil
	// Reasons quote measurements ("uses 93% CPU"); the settings are what
	// was decided.
	for i, a := range c.Actions {
		c.Actions[i] = &gamesav1.Action{Knob: a.GetKnob(), Target: a.GetTarget(), Value: a.GetValue()}
	}
	for _, h := range c.Held {
		h.Why = ""
	}
	for _, r := range c.Released {
		r.Why = ""
	}
	for _, o := range c.Overruled {
		o.Reasons = nil
	}
	c.Fired = nil // the fired rules show in what they asked for
	if f := c.Foreground; f != nil {
		f.CpuPercent, f.RssBytes = 0, 0
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return nil
	}
	return b
}

// errNoDecision says the pipeline has not decided yet.
var errNoDecision = errors.New("no decision yet: the first comes within a second of the start")
