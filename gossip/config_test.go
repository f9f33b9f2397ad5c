package gossip

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "NodeID") {
		t.Errorf("DefaultConfig().Validate() = %v; want an error about NodeID", err)
	}
	c.NodeID = "n1"
	if err := c.Validate(); err != nil {
		t.Errorf("DefaultConfig with a NodeID: Validate() = %v; want nil", err)
	}
	if c.BindPort != DefaultPort || c.StaleAfter != 10*time.Second {
		t.Errorf("DefaultConfig: port %d, stale after %v; want %d, 10s", c.BindPort, c.StaleAfter, DefaultPort)
	}
	lan := memberlist.DefaultLANConfig()
	if tm := c.Timing; tm.ProbeInterval != lan.ProbeInterval || tm.GossipInterval != lan.GossipInterval/2 ||
		tm.SuspicionMult != lan.SuspicionMult || tm.PushPullInterval != lan.PushPullInterval {
		t.Errorf("DefaultTiming() = %+v; want memberlist's LAN values, gossip twice as often", tm)
	}
	c.Timing = FastTiming()
	if err := c.Validate(); err != nil {
		t.Errorf("FastTiming: Validate() = %v; want nil", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string // a word the error must contain
	}{
		{"long node id", func(c *Config) { c.NodeID = strings.Repeat("n", MaxNodeIDBytes+1) }, "NodeID"},
		{"control char in node id", func(c *Config) { c.NodeID = "a\tb" }, "NodeID"},
		{"meta id differs", func(c *Config) { c.Meta.ID = "other" }, "Meta.ID"},
		{"bind addr a name", func(c *Config) { c.BindAddr = "localhost" }, "BindAddr"},
		{"bind port", func(c *Config) { c.BindPort = 70000 }, "BindPort"},
		{"advertise addr", func(c *Config) { c.AdvertiseAddr = "nowhere" }, "AdvertiseAddr"},
		{"advertise port", func(c *Config) { c.AdvertisePort = -1 }, "AdvertisePort"},
		{"key size", func(c *Config) { c.SecretKey = make([]byte, 20) }, "SecretKey"},
		{"empty key", func(c *Config) { c.SecretKey = []byte{} }, "SecretKey"},
		{"stale after", func(c *Config) { c.StaleAfter = 0 }, "StaleAfter"},
		{"forget after", func(c *Config) { c.ForgetAfter = -time.Second }, "ForgetAfter"},
		{"meta too large", func(c *Config) { c.Meta.Version = strings.Repeat("v", MaxMetaBytes) }, "Meta"},
		{"probe interval", func(c *Config) { c.Timing.ProbeInterval = 0 }, "ProbeInterval"},
		{"probe timeout over interval", func(c *Config) { c.Timing.ProbeTimeout = 2 * c.Timing.ProbeInterval }, "ProbeTimeout"},
		{"gossip nodes", func(c *Config) { c.Timing.GossipNodes = 0 }, "GossipNodes"},
		{"digest retransmits", func(c *Config) { c.Timing.DigestRetransmitMult = 0 }, "DigestRetransmitMult"},
		{"push-pull", func(c *Config) { c.Timing.PushPullInterval = -1 }, "PushPullInterval"},
	} {
		c := DefaultConfig()
		c.NodeID = "n1"
		tc.mod(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%s) = %v; want ErrInvalidConfig naming %s", tc.name, err, tc.want)
		}
	}

	// Every problem is reported, not only the first.
	c := Config{}
	err := c.Validate()
	for _, w := range []string{"NodeID", "StaleAfter", "ForgetAfter", "ProbeInterval"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Config{}.Validate() = %v; want it to name %s", err, w)
		}
	}

	// With a transport, the bind address is not used.
	c = DefaultConfig()
	c.NodeID = "n1"
	c.BindAddr = ""
	c.Transport = (&memberlist.MockNetwork{}).NewTransport("n1")
	if err := c.Validate(); err != nil {
		t.Errorf("Validate(transport, no bind addr) = %v; want nil", err)
	}
}

func TestRoleStrings(t *testing.T) {
	for _, r := range []Role{RoleServer, RoleClient} {
		got, err := ParseRole(r.String())
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %v, %v; want %v", r.String(), got, err, r)
		}
	}
	if _, err := ParseRole("leader"); err == nil {
		t.Errorf("ParseRole(leader) = nil error; want one")
	}
	for _, tc := range []struct {
		s    interface{ String() string }
		want string
	}{
		{RoleUnspecified, "unspecified"}, {Role(9), "role(9)"},
		{StateAlive, "alive"}, {StateFailed, "failed"}, {StateLeft, "left"}, {MemberState(0), "state(0)"},
		{EventJoin, "join"}, {EventUpdate, "update"}, {EventLeave, "leave"}, {EventFail, "fail"}, {EventKind(0), "event(0)"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("String() = %q; want %q", got, tc.want)
		}
	}
}
